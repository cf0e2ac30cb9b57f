"""Record the stroke protocol's first-stroke refinement inputs (held-out), to time the refinement offline."""
import pickle, numpy as np
import medpclip.engine.views as V
from medpclip.engine import Engine
from medpclip.data.cases import load_case
from medpclip.data.stroke_sim import stroke_through
from medpclip.evaluation.items import load_specs, largest_on_spaced_slices
from medpclip.evaluation.patients import select_patients
rec = []
orig = V.refine_to_strokes
def keep(image, mask, strokes, spacing):
    rec.append((np.array(image), np.array(mask), np.array(strokes), spacing)); return orig(image, mask, strokes, spacing)
V.refine_to_strokes = keep
specs = select_patients(load_specs(['../shared/training'], walk=True), ['BTCV_009', 'BTCV_010', 'BTCV_028', 'BTCV_029', 'BTCV_030', 'brats_2013_pat0006_1'])
eng = Engine.from_checkpoint(None, threads=1)
for spec in specs:
    case = load_case(spec); s = eng.open(case.image); g = s.geometry
    for idx, _, v, target in largest_on_spaced_slices(case, 3, 3, 100):
        path, _ = stroke_through(target, 1)
        s.segment({"space": "ijk", "mode": "2d", "scribbles": [{"points": g.to_input_ijk(np.array([[c, r, idx] for r, c in path], float)).tolist(), "label": 1}]}, feedback=False)
    s.close()
pickle.dump(rec, open('runs/s35/refine_inputs.pkl', 'wb'))
print(len(rec), {r[0].dtype for r in rec}, {r[0].shape for r in rec})

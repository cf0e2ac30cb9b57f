"""A first stroke on a slice not encoded yet, with the body's view encoded eagerly (before session 36's change) or
only when needed, alternately on the same items; and a click on a new slice for reference."""
import sys, time, numpy as np, collections
from medpclip.engine import Engine
import medpclip.engine.session as S
from medpclip.data.cases import load_case
from medpclip.data.masks import max_edt_point
from medpclip.data.stroke_sim import stroke_through
from medpclip.evaluation.items import load_specs, largest_on_spaced_slices
from medpclip.evaluation.patients import select_patients
specs = select_patients(load_specs(['../shared/training'], walk=True), ['BTCV_009', 'BTCV_010', 'BTCV_028', 'BTCV_029', 'BTCV_030', 'brats_2013_pat0006_1'])
eng = Engine.from_checkpoint(None, threads=1)
T = collections.defaultdict(list)
orig_segment = S.Session.segment
for spec in specs:
    case = load_case(spec); g = None
    for idx, _, v, target in largest_on_spaced_slices(case, 3, 1, 100):   # one item per slice: each slice new
        path, _ = stroke_through(target, 1)
        for kind in ('eager', 'lazy', 'click'):
            s = eng.open(case.image); g = s.geometry   # a fresh session: nothing encoded
            if kind == 'click':
                r, c = max_edt_point(target)
                pr = {"points": [g.to_input_ijk(np.array([[c, r, idx]], float))[0].tolist()], "mode": "2d"}
            else:
                pr = {"space": "ijk", "mode": "2d", "scribbles": [{"points": g.to_input_ijk(np.array([[c, r, idx] for r, c in path], float)).tolist(), "label": 1}]}
            t0 = time.perf_counter()
            if kind == 'eager':
                s.features('axial', [int(idx)])   # what the engine did before: the body's view first
            s.segment(pr, feedback=False); dt = time.perf_counter() - t0
            T[kind].append(dt); s.close()
print({k: 'median %.1f ms (n %d)' % (np.median(v) * 1000, len(v)) for k, v in T.items()})

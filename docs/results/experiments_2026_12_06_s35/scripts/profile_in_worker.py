"""cProfile of a first stroke's and a click's segment() on the model thread (held-out items)."""
import cProfile, pstats, numpy as np
import medpclip.engine.session as S
from medpclip.engine import Engine
from medpclip.data.cases import load_case
from medpclip.data.masks import max_edt_point
from medpclip.data.stroke_sim import stroke_through
from medpclip.evaluation.items import load_specs, largest_on_spaced_slices
from medpclip.evaluation.patients import select_patients
profs = {'stroke': cProfile.Profile(), 'click': cProfile.Profile()}
current = ['click']
inner = S.Session.segment.__wrapped__ if hasattr(S.Session.segment, '__wrapped__') else None
print('wrapped', inner is not None)
def seg(self, *a, **k):
    p = profs[current[0]]; p.enable()
    try:
        return inner(self, *a, **k)
    finally:
        p.disable()
S.Session.segment = S.on_model_thread(seg) if hasattr(S, 'on_model_thread') else seg
specs = select_patients(load_specs(['../shared/training'], walk=True), ['BTCV_009', 'BTCV_010', 'BTCV_028'])
eng = Engine.from_checkpoint(None, threads=1)
for spec in specs:
    case = load_case(spec); s = eng.open(case.image); g = s.geometry
    for idx, _, v, target in largest_on_spaced_slices(case, 3, 3, 100):
        s.features('axial', [int(idx)])
        path, _ = stroke_through(target, 1)
        current[0] = 'stroke'
        s.segment({"space": "ijk", "mode": "2d", "scribbles": [{"points": g.to_input_ijk(np.array([[c, r, idx] for r, c in path], float)).tolist(), "label": 1}]}, feedback=False)
        r, c = max_edt_point(target); current[0] = 'click'
        s.segment({"points": [g.to_input_ijk(np.array([[c, r, idx]], float))[0].tolist()]}, feedback=False)
    s.close()
for k, p in profs.items():
    print('=====', k); pstats.Stats(p).sort_stats('tottime').print_stats(22)
for k, p in profs.items():
    print('===== cumulative', k); pstats.Stats(p).sort_stats('cumulative').print_stats(45)

"""First stroke (the stroke protocol's) against a click at the deepest point: model passes and time per part."""
import sys, time, numpy as np, collections
from medpclip.engine import Engine
import medpclip.engine.session as S
import medpclip.engine.views as V
import medpclip.engine.policy as policy
from medpclip.data.cases import load_case
from medpclip.data.masks import max_edt_point
from medpclip.data.stroke_sim import stroke_through
from medpclip.evaluation.items import load_specs, largest_on_spaced_slices
from medpclip.evaluation.patients import select_patients
for pair in sys.argv[1:]:
    k, v = pair.split('='); setattr(policy, k, eval(v))
T = collections.defaultdict(list)
def timed(mod, name):
    fn = getattr(mod, name)
    def w(*a, **k):
        t0 = time.perf_counter(); r = fn(*a, **k); T[name].append(time.perf_counter() - t0); return r
    setattr(mod, name, w)
from medpclip.data.slices import SliceGrid
from medpclip.model.medpclip import MedPCLIP
timed(SliceGrid, 'strokes_to_model'); timed(MedPCLIP, 'prompted'); timed(S.Session, 'features'); timed(SliceGrid, 'logits_to_slice')
timed(S.Session, 'resolve'); timed(V, 'refine_to_strokes'); timed(S.Session, 'predict_slice')
specs = select_patients(load_specs(['../shared/training'], walk=True), ['BTCV_009', 'BTCV_010', 'BTCV_028', 'BTCV_029', 'BTCV_030', 'brats_2013_pat0006_1'])
eng = Engine.from_checkpoint(None, threads=1)
rows = []
for spec in specs:
    case = load_case(spec); s = eng.open(case.image); g = s.geometry
    for idx, _, v, target in largest_on_spaced_slices(case, 3, 3, 100):
        s.features('axial', [int(idx)])
        path, _ = stroke_through(target, 1)
        prompt = {"space": "ijk", "mode": "2d", "scribbles": [{"points": g.to_input_ijk(np.array([[c, r, idx] for r, c in path], float)).tolist(), "label": 1}]}
        for kind, pr in (('stroke', prompt), ('click', None)):
            if pr is None:
                r, c = max_edt_point(target); pr = {"points": [g.to_input_ijk(np.array([[c, r, idx]], float))[0].tolist()]}
            n0 = {k: len(x) for k, x in T.items()}
            t0 = time.perf_counter(); s.segment(pr, feedback=False); dt = time.perf_counter() - t0
            parts = {k: sum(x[n0.get(k, 0):]) for k, x in T.items()}
            rows.append((kind, dt, len(T['predict_slice']) - n0.get('predict_slice', 0), parts))
    s.close()
for kind in ('stroke', 'click'):
    r = [x for x in rows if x[0] == kind]
    print(kind, 'n', len(r), 'median %.1f ms' % (np.median([x[1] for x in r]) * 1000), 'passes', sorted(collections.Counter(x[2] for x in r).items()),
          {k: round(np.median([x[3].get(k, 0) for x in r]) * 1000, 1) for k in T})
    for p in sorted(set(x[2] for x in r)):
        print('   passes', p, 'median %.1f ms' % (np.median([x[1] for x in r if x[2] == p]) * 1000))

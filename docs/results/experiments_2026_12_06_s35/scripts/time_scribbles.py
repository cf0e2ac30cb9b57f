"""Where a scribbles label-map answer spends its time (held-out BTCV items of the scribble protocol)."""
import time, numpy as np, collections
from medpclip.engine import Engine
import medpclip.engine.session as S
import medpclip.engine.views as V
from medpclip.data.cases import load_case
from medpclip.evaluation.items import load_specs, largest_on_spaced_slices
from medpclip.evaluation.patients import select_patients
from medpclip.evaluation.scribbles import annotator_strokes
T = collections.defaultdict(list)
def timed(mod, name):
    fn = getattr(mod, name)
    def w(*a, **k):
        t0 = time.perf_counter(); r = fn(*a, **k); T[name].append(time.perf_counter() - t0); return r
    setattr(mod, name, w)
timed(S.Session, 'resolve'); timed(S, 'answer_strokes'); timed(V, 'answer_slice'); timed(V, 'refine_to_strokes')
timed(S.Session, 'predict_slice')
specs = select_patients(load_specs(['../shared/training'], walk=True), ['BTCV_009', 'BTCV_028'])
eng = Engine.from_checkpoint(None, threads=1)
rng = np.random.default_rng(0); tot = []; counts = collections.Counter()
for spec in specs[:8]:
    case = load_case(spec); s = eng.open(case.image)
    for idx, lab2d, v, target in largest_on_spaced_slices(case, 3, 4, 60):
        st = annotator_strokes(lab2d, v, rng, np.pi)
        if st is None: continue
        vol = np.zeros(case.canon_label.shape, np.uint8); vol[idx] = st
        s.features('axial', [int(idx)])
        n0 = {k: len(v) for k, v in T.items()}
        t0 = time.perf_counter(); s.segment({'mode': '2d'}, scribbles=s.orient.array_from_canonical(vol), feedback=False); tot.append(time.perf_counter() - t0)
        counts[len(T['predict_slice']) - n0.get('predict_slice', 0)] += 1
    s.close()
print('items', len(tot), 'total median %.1f ms' % (np.median(tot) * 1000), 'model passes per item', sorted(counts.items()))
for k, v in T.items():
    print(f'{k:20s} calls {len(v):4d} median {np.median(v)*1000:7.1f} ms  sum/item {np.sum(v)/len(tot)*1000:7.1f} ms')

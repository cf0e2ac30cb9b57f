import torch, numpy as np, collections, sys
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from medpclip.engine.engine import Engine
eng = Engine.from_checkpoint(device="cpu", threads=1)
scale = float(eng.model.logit_scale.exp().clamp(max=100).detach())
train = torch.load('runs/dump_train.pt')
sets = {'readme': torch.load('runs/dump_heldout.pt'), 'all': torch.load('runs/dump_heldout_all.pt')}
ds = lambda r: 'brats' if 'brats' in r['case'] else 'btcv'
TEXT = {}
def text(r):
    k = (tuple(r['names']), r['modality'])
    if k not in TEXT: TEXT[k] = eng.concept_embeddings(r['names'], r['modality'])[1].float()
    return TEXT[k]
def run(nf, C, w, per_dataset):
    models = {}
    groups = ['btcv', 'brats'] if per_dataset else ['all']
    for g in groups:
        rows = [r for r in train if g == 'all' or ds(r) == g]
        X = np.stack([r['geometry'].numpy()[:nf] for r in rows])
        models[g] = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(X, [r['truth'] for r in rows])
    out = {}
    for name, rows in sets.items():
        ok = collections.defaultdict(list)
        for r in rows:
            m = models['all' if not per_dataset else ds(r)]
            lp = m.predict_log_proba(r['geometry'].numpy()[:nf][None])[0]; cls = list(m.classes_)
            g = torch.tensor([lp[cls.index(n)] if n in cls else 0.0 for n in r['names']])
            base = torch.log_softmax(scale * text(r) @ r['region'], 0)
            ok[ds(r)].append(r['names'][int((base + w * g).argmax())] == r['truth'])
        res = {k: round(float(np.mean(v)), 3) for k, v in ok.items()}
        out[name] = (res, round(sum(res.values()) / 2, 3))
    return out
print('base', run(15, 1, 0, False))
for nf in (15, 19):
    for C in (1, 10):
        for w in (0.5, 1.0):
            for pdset in (False, True):
                print(nf, C, w, 'per-dataset' if pdset else 'joint', run(nf, C, w, pdset))

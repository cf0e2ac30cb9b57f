import torch, collections, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from medpclip.engine.engine import Engine
eng = Engine.from_checkpoint(device="cpu", threads=2)
scale = float(eng.model.logit_scale.exp().clamp(max=100).detach())
train = torch.load('runs/dump_train.pt'); held = torch.load(sys.argv[1] if len(sys.argv) > 1 else 'runs/dump_heldout.pt')
def patient(r):
    c = r['case']
    return '_'.join(c.split('_')[:2]) if c.startswith('ABD') else c.rsplit('_', 1)[0]
def ds(r): return 'brats' if 'brats' in r['case'] else 'btcv'
TEXT = {}
def text(r):
    k = (tuple(r['names']), r['modality'])
    if k not in TEXT: TEXT[k] = eng.concept_embeddings(r['names'], r['modality'])[1].float()
    return TEXT[k]
NF = int(sys.argv[2]) if len(sys.argv) > 2 else 19
def feats(rows): return np.stack([r['geometry'][:NF].numpy() for r in rows])
def fit(rows, C):
    X = feats(rows); y = [r['truth'] for r in rows]
    sc = StandardScaler().fit(X)
    clf = LogisticRegression(C=C, max_iter=2000).fit(sc.transform(X), y)
    return sc, clf
def geo_logp(model, r):
    sc, clf = model
    lp = clf.predict_log_proba(sc.transform(r['geometry'][:NF].numpy()[None]))[0]
    cls = list(clf.classes_)
    return torch.tensor([lp[cls.index(n)] if n in cls else np.nan for n in r['names']], dtype=torch.float32)
def evaluate(rows, models, w, key='region'):
    ok = collections.defaultdict(list)
    for r in rows:
        base = torch.log_softmax(scale * text(r) @ r[key], 0)
        g = geo_logp(models(r), r) if w else torch.zeros(len(r['names']))
        g = torch.nan_to_num(g - torch.logsumexp(torch.nan_to_num(g, nan=-1e9), 0), nan=0.0) if w else g
        lg = base + w * g if w != 'geo' else g
        ok[ds(r)].append(r['names'][int(lg.argmax())] == r['truth'])
    res = {k: round(sum(v) / len(v), 3) for k, v in ok.items()}
    return res, round(sum(res.values()) / len(res), 3)
pats = sorted({patient(r) for r in train})
for C in (0.01, 0.1, 1.0):
    folds = {p: fit([r for r in train if patient(r) != p], C) for p in pats}
    full = fit(train, C)
    for w in ('geo', 0.25, 0.5, 1.0):
        print(f"C={C} w={w}: LOPO-train {evaluate(train, lambda r: folds[patient(r)], w)} | held {evaluate(held, lambda r: full, w)}")
print('base', evaluate(held, None, 0), 'raw (no geometry head)', evaluate(held, None, 0, 'raw'), 'train raw', evaluate(train, None, 0, 'raw'))

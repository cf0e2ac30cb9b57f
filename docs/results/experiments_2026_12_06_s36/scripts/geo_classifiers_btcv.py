"""BTCV items named from the 15 geometry figures alone by several classifiers: leave-one-patient-out on the 14
training patients, and fitted on all of them for the 5 held-out patients (the README's items); among each case's
names. Needs runs/dump_train.pt and runs/dump_heldout.pt (naming_dump.py)."""
import torch, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler, PolynomialFeatures
from sklearn.pipeline import make_pipeline
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
tr = [r for r in torch.load('runs/dump_train.pt') if 'brats' not in r['case']]
he = [r for r in torch.load('runs/dump_heldout.pt') if 'brats' not in r['case']]
pat = lambda r: r['case'].split('_')[1]
X = lambda rows: np.stack([r['geometry'].numpy()[:15] for r in rows])
def among(m, rows):
    P = m.predict_proba(X(rows)); cls = list(m.classes_); ok = []
    for r, p in zip(rows, P):
        s = [p[cls.index(n)] if n in cls else -1 for n in r['names']]
        ok.append(r['names'][int(np.argmax(s))] == r['truth'])
    return np.mean(ok)
models = {'LR C=1': lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1, max_iter=3000)),
          'LR C=10': lambda: make_pipeline(StandardScaler(), LogisticRegression(C=10, max_iter=3000)),
          'poly2 LR C=1': lambda: make_pipeline(StandardScaler(), PolynomialFeatures(2), StandardScaler(), LogisticRegression(C=1, max_iter=3000)),
          'RF': lambda: RandomForestClassifier(300, min_samples_leaf=2, random_state=0),
          'HGB': lambda: HistGradientBoostingClassifier(max_depth=3, learning_rate=0.1, max_iter=200, random_state=0)}
for n, f in models.items():
    acc = []
    for p in sorted({pat(r) for r in tr}):
        a = [r for r in tr if pat(r) != p]; b = [r for r in tr if pat(r) == p]
        m = f().fit(X(a), [r['truth'] for r in a]); acc.append(among(m, b) * len(b))
    m = f().fit(X(tr), [r['truth'] for r in tr])
    print(f"{n:14s} LOPO {sum(acc)/len(tr):.3f} held {among(m, he):.3f}")

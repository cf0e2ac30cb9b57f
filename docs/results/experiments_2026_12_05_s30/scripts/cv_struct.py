import numpy as np, sys
sys.path.insert(0, "scripts")
import fit_click_selector as F
rec = dict(np.load("runs/fc_train_c.npz", allow_pickle=True))
x = F.features(rec, "token")
picks = {m: F.cross_validated(rec, x, 0.01, 0.0, m) for m in (0.0, 0.4, 0.8)}
got = {m: rec["dice"][np.arange(len(x)), p] for m, p in picks.items()}
for name in np.unique(rec["dataset"]):
    for label in np.unique(rec["label"][rec["dataset"] == name]):
        msk = (rec["dataset"] == name) & (rec["label"] == label)
        if msk.sum() < 4: continue
        print(f"{name:6s} {str(label)[:28]:28s} n={msk.sum():4d} " + " ".join(f"m{m}: {got[m][msk].mean():.3f}" for m in got))

import sys, numpy as np
sys.path.insert(0, "runs/s37")
from cf_analyse import load, features, dice
recs = load(sys.argv[1], sys.argv[2])
rows = []
for r, t, m in recs:
    f = features(r, m)
    if not f["usable"] or t["dataset"] != "btcv":
        continue
    dc, dl = dice(m["cur"], m["tgt"]), dice(m["Lref"], m["tgt"])
    if abs(dc - dl) < 0.05:
        continue
    sp = r["spacing"]; px = sp[0] * sp[1]
    rows.append(dict(y=dl > dc, Ls=r["Lscore"], Ws=r["W1score"], dS=r["Lscore"] - r["W1score"], ratio=np.log(f["ratio"]),
                     hold=f["hold"], rawd=f["rawd"], curA=np.log(m["cur"].sum() * px), LA=np.log(m["Lref"].sum() * px),
                     sdL=f["sdL"]))
from sklearn.metrics import roc_auc_score
y = np.array([r["y"] for r in rows]); print("n", len(y), "local better", y.sum())
for k in rows[0]:
    if k != "y":
        print(k, round(roc_auc_score(y, [r[k] for r in rows]), 3))

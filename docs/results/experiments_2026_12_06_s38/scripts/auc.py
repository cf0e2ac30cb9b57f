import pandas as pd, numpy as np
from sklearn.metrics import roc_auc_score
df = pd.read_pickle("runs/s38/kept_local.pkl")
y = (df.gain > 0).astype(int)
print("n", len(df), "body better", y.sum(), "mean gain if always body", df.gain.mean().round(3))
for c in "ratio holdL dmed rim3 rim6".split():
    print(c, round(roc_auc_score(y, df[c]), 3))
for k in (1.5, 2, 2.5, 3):
    for t in (0.2, 0.4, 0.6, 1.0):
        sel = (df.ratio > k) & (df.holdL > 0.5) & (df.dmed < t)
        g = df.gain[sel]
        by = df[sel].groupby("s").gain.agg(["count", "sum"])
        # per-structure change of mean Dice if body chosen on sel
        n = df.groupby("s").size()
        ch = (by["sum"] / n).dropna().sort_values()
        print(f"k={k} t={t} n={sel.sum()} total gain {g.sum():.2f}  worst {ch.head(3).round(3).to_dict()}  stomach {ch.get('stomach', 0):.3f}")

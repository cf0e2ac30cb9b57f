"""Stomach in the training dump: where the fgn rule keeps L and loses against W1, and features."""
import sys, collections, numpy as np
from scipy import ndimage
sys.path.insert(0, "runs/s37")
import cf_analyse as A
recs = A.load("runs/s37/dump_train.pkl", "runs/s37/dump_train/results.json")
rows = []
for r, t, m in recs:
    mm = dict(m); mm["cur"] = m["W1"]
    f = A.features(r, mm)
    p = A.pick_dmed(f, 4, 0.2)
    L, W = m["L"], m["W1"]
    if p == "Lref" and W.any() and L.sum() > 1.5 * W.sum() and (L & W).sum() > 0.5 * W.sum():
        p = "cur"
    if p != "Lref":
        continue
    dL, dW = A.dice(L, m["tgt"]), A.dice(W, m["tgt"])
    extra = W & ~L
    # rim: share of W\L within 3 / 6 px of L
    dist = ndimage.distance_transform_edt(~L)
    rim3 = (extra & (dist <= 3)).sum() / max(1, extra.sum())
    rim6 = (extra & (dist <= 6)).sum() / max(1, extra.sum())
    holdL = (W & L).sum() / max(1, L.sum())
    rows.append((t["structure"], W.sum() / max(1, L.sum()), holdL, f["dmed"], rim3, rim6, dL, dW))
import pandas as pd
df = pd.DataFrame(rows, columns="s ratio holdL dmed rim3 rim6 dL dW".split())
df["gain"] = df.dW - df.dL
pd.set_option("display.width", 200)
print(df.groupby("s")[["ratio", "holdL", "dmed", "rim6", "dL", "dW", "gain"]].mean().round(3), len(df))
print(df[df.s == "stomach"].sort_values("gain").round(3).to_string())
df.to_pickle("runs/s38/kept_local.pkl")

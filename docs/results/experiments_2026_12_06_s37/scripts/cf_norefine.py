import sys, collections, numpy as np
sys.path.insert(0, "runs/s37")
import cf_analyse as A
recs = A.load(sys.argv[1], sys.argv[2])
D = [{k: A.dice(m[k], m["tgt"]) for k in ("cur", "Lref", "L")} for r, t, m in recs]
S = [(t["dataset"], t["structure"]) for r, t, m in recs]
picks = []
for r, t, m in recs:
    mm = dict(m); mm["cur"] = m["W1"]
    f = A.features(r, mm)
    p = A.pick_dmed(f, 4, 0.2)
    L, W = m["L"], m["W1"]
    if p == "Lref" and W.any() and L.sum() > 1.5 * W.sum() and (L & W).sum() > 0.5 * W.sum():
        p = "cur"
    picks.append(p)
for name, sub in (("with refine", "Lref"), ("no refine", "L")):
    by = collections.defaultdict(list); st = collections.defaultdict(list)
    for d, p, s in zip(D, picks, S):
        v = d[sub] if p == "Lref" else d["cur"]
        by[s[0]].append(v); st[s[1]].append(v)
    print(f"{name:12s}", " | ".join(f"{s} {np.mean(v):.4f}" for s, v in sorted(by.items())), " ".join(f"{k[:6]} {np.mean(st[k]):.3f}" for k in sorted(st)))
print("cur         ", " | ".join(f"{s} {np.mean([d['cur'] for d, s2 in zip(D, S) if s2[0] == s]):.4f}" for s in ("brats", "btcv")))

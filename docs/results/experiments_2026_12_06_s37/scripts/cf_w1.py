import sys, collections, numpy as np
sys.path.insert(0, "runs/s37")
import cf_analyse as A
recs = A.load(sys.argv[1], sys.argv[2])
def feats(r, m, ref):
    mm = dict(m); mm["cur"] = m[ref]
    return A.features(r, mm)
D = [{k: A.dice(m[k], m["tgt"]) for k in ("cur", "Lref")} for r, t, m in recs]
S = [(t["dataset"], t["structure"]) for r, t, m in recs]
for ref in ("cur", "W1"):
    F = [feats(r, m, ref) for r, t, m in recs]
    for k, tt in ((3, 0.2), (4, 0.15), (4, 0.2), (4, 0.25), (5, 0.2), (6, 0.2)):
        picks = [A.pick_dmed(f, k, tt) for f in F]
        by = collections.defaultdict(list); st = collections.defaultdict(list)
        for d, p, s in zip(D, picks, S):
            by[s[0]].append(d[p]); st[s[1]].append(d[p])
        worst = sorted(((np.mean(v) - np.mean([d["cur"] for d, s2 in zip(D, S) if s2[1] == s]), s) for s, v in st.items()))[:3]
        print(ref, k, tt, " | ".join(f"{s} {np.mean(v):.4f}" for s, v in sorted(by.items())), "liver", round(np.mean(st["liver"]), 3), "stomach", round(np.mean(st["stomach"]), 3), "worst", [(s, round(x, 3)) for x, s in worst])

import sys, collections, numpy as np
sys.path.insert(0, "runs/s37")
from cf_analyse import load, features, dice, rule_pick, pick_dmed
recs = load(sys.argv[1], sys.argv[2])
F = [features(r, m) for r, t, m in recs]
D = [{k: dice(m[k], m["tgt"]) for k in ("cur", "Lref")} for r, t, m in recs]
S = [(t["dataset"], t["structure"]) for r, t, m in recs]
def show(name, picks):
    by = collections.defaultdict(list); st = collections.defaultdict(list)
    for d, p, s in zip(D, picks, S):
        by[s[0]].append(d[p]); st[s[1]].append(d[p])
    worst = sorted(((np.mean(v) - np.mean([d["cur"] for d, s2 in zip(D, S) if s2[1] == s]), s) for s, v in st.items()))[:3]
    print(f"{name:18s}", " | ".join(f"{s} {np.mean(v):.4f}" for s, v in sorted(by.items())), "liver", round(np.mean(st["liver"]), 3), "worst", [(s, round(x, 3)) for x, s in worst])
show("cur", ["cur"] * len(F)); show("local", [rule_pick(f, "local") for f in F])
for k in (2, 3, 4):
    for tt in (0.003, 0.006, 0.008):
        show(f"raw k={k} t={tt}", [rule_pick(f, "int", k=k, t=tt) for f in F])
    for tt in (0.05, 0.1, 0.15, 0.2, 0.3):
        show(f"dmed k={k} t={tt}", [pick_dmed(f, k, tt) for f in F])

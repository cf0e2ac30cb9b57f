import sys, collections, numpy as np
sys.path.insert(0, "runs/s37")
from cf_analyse import load, features, dice
recs = load(sys.argv[1], sys.argv[2])
by = collections.defaultdict(list)
for r, t, m in recs:
    f = features(r, m)
    d = {k: dice(m[k], m["tgt"]) for k in ("cur", "Lref", "L", "W1")}
    by[t["structure"]].append((f, d, r, m))
print(f"{'structure':30s} n  cur   Lref  L     W1   usable  | among usable: ratio med, rawd med")
for s, v in sorted(by.items()):
    cur = np.mean([d["cur"] for f, d, *_ in v]); lr = np.mean([d["Lref"] if f["usable"] else d["cur"] for f, d, *_ in v])
    l = np.mean([d["L"] for f, d, *_ in v]); w = np.mean([d["W1"] for f, d, *_ in v])
    u = [f for f, *_ in v if f["usable"]]
    print(f"{s:30s} {len(v):3d} {cur:.3f} {lr:.3f} {l:.3f} {w:.3f} {len(u):3d} | {np.median([f['ratio'] for f in u]) if u else 0:.2f} {np.median([f['rawd'] for f in u]) if u else 0:.3f}")

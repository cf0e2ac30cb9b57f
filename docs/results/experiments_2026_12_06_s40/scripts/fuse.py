import sys, numpy as np, json
from scipy import ndimage
d = np.load(sys.argv[1], allow_pickle=True)
res = json.load(open(sys.argv[2]))["trials"]
n = len(d["answer"])
def dice(a, t):
    s = a.sum() + t.sum(); return 1.0 if s == 0 else 2 * (a & t).sum() / s
rows = []
for i in range(n):
    a, g, t, s = d["answer"][i], d["growcut"][i], d["target"][i], d["strokes"][i]
    ds = res[i]["dataset"]
    over = (a & ~t).sum() / max(t.sum(), 1); under = (~a & t).sum() / max(t.sum(), 1)
    # containment: component of not-negative containing the positive stroke
    lab, _ = ndimage.label(s != 2)
    ids = np.unique(lab[s == 1]); ids = ids[ids > 0]
    comp = np.isin(lab, ids)
    enclosed = not (comp[0].any() or comp[-1].any() or comp[:, 0].any() or comp[:, -1].any())
    rows.append((ds, res[i]["structure"], dice(a, t), dice(g, t), over, under, enclosed, dice(a & comp, t), dice(a & g, t), dice(a | g, t)))
import collections
by = collections.defaultdict(list)
for r in rows: by[r[0]].append(r)
for ds, rr in by.items():
    A = np.array([r[2:] for r in rr], float)
    print(ds, len(rr), "ans %.3f gc %.3f over %.3f under %.3f enclosed %.2f contain %.3f and %.3f or %.3f" % tuple(A.mean(0)))
    for st in sorted(set(r[1] for r in rr)):
        B = np.array([r[2:] for r in rr if r[1] == st], float)
        print("   ", st[:24].ljust(24), len(B), " ".join("%.3f" % x for x in B.mean(0)))

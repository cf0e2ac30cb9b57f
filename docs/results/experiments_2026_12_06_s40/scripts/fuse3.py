import sys, numpy as np, json, collections
from scipy import ndimage
def dice(a, t):
    s = a.sum() + t.sum(); return 1.0 if s == 0 else 2 * (a & t).sum() / s
for f in sys.argv[1:]:
    d = np.load(f + ".npz", allow_pickle=True); res = json.load(open(f + "/results.json"))["trials"]
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    for i in range(len(d["answer"])):
        a, g, t, s = d["answer"][i], d["growcut"][i], d["target"][i], d["strokes"][i]
        ds = res[i]["dataset"]
        out[ds]["ans"].append(dice(a, t))
        ratio = g.sum() / max(a.sum(), 1)
        dist = ndimage.distance_transform_edt(~a)
        rad = np.sqrt(a.sum() / np.pi)
        for c in (1.5, 2, 3, 1e9):
            for k in (4, 8, 12):
                u = a | (g & (dist <= k)) if ratio <= c else a
                out[ds][f"c{c:g}k{k}"].append(dice(u, t))
            for fr in (0.25, 0.5):
                u = a | (g & (dist <= max(3, fr * rad))) if ratio <= c else a
                out[ds][f"c{c:g}f{fr}"].append(dice(u, t))
    print(f)
    for ds, m in out.items():
        print("  ", ds, len(m["ans"]), " ".join(f"{k}={np.mean(v):.3f}" for k, v in m.items()))

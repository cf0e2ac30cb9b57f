import sys, numpy as np, json, collections
from scipy import ndimage
def dice(a, t):
    s = a.sum() + t.sum(); return 1.0 if s == 0 else 2 * (a & t).sum() / s
for f in sys.argv[1:]:
    d = np.load(f + ".npz", allow_pickle=True); res = json.load(open(f + "/results.json"))["trials"]
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    for i in range(len(d["answer"])):
        a, g, t, s, im = d["answer"][i], d["growcut"][i], d["target"][i], d["strokes"][i], d["image"][i]
        ds = res[i]["dataset"]
        out[ds]["ans"].append(dice(a, t))
        neg = s == 2
        negnear = ndimage.binary_dilation(neg, iterations=2)
        grad = np.hypot(ndimage.sobel(im, 0), ndimage.sobel(im, 1))
        gref = np.percentile(grad[ndimage.binary_dilation(a, iterations=3) ^ ndimage.binary_erosion(a, iterations=3)], 50) if a.any() else 1
        extra = g & ~a
        lab, n = ndimage.label(extra)
        adj = ndimage.binary_dilation(a)
        res_stroke = {th: a.copy() for th in (0.3, 0.5, 0.7)}
        res_grad = {th: a.copy() for th in (0.5, 0.75, 1.0)}
        for c in range(1, n + 1):
            comp = lab == c
            if not (comp & adj).any():
                continue
            outer = ndimage.binary_dilation(comp) & ~comp & ~a & ~g
            if not outer.any():
                continue
            fr = (outer & negnear).sum() / outer.sum()
            for th in res_stroke:
                if fr >= th: res_stroke[th] |= comp
            gm = grad[outer].mean() / max(gref, 1e-6)
            for th in res_grad:
                if gm >= th: res_grad[th] |= comp
        for th, u in res_stroke.items(): out[ds][f"stroke{th}"].append(dice(u, t))
        for th, u in res_grad.items(): out[ds][f"grad{th}"].append(dice(u, t))
    print(f)
    for ds, m in out.items():
        print("  ", ds, len(m["ans"]), " ".join(f"{k}={np.mean(v):.3f}" for k, v in m.items()))

"""answer | (components of grown & ~answer touching the answer whose outer edge has a strong gradient);
grown = GrowCut (saved) or a seeded watershed from the strokes (slice border background)."""
import sys, numpy as np, json, collections, time
from scipy import ndimage
from skimage.segmentation import watershed
def dice(a, t):
    s = a.sum() + t.sum(); return 1.0 if s == 0 else 2 * (a & t).sum() / s
def ws_strokes(im, s):
    grad = np.hypot(ndimage.sobel(im, 0), ndimage.sobel(im, 1))
    seeds = np.zeros(s.shape, np.int32); seeds[s == 2] = 2; seeds[s == 1] = 1
    seeds[0, :] = seeds[-1, :] = seeds[:, 0] = seeds[:, -1] = 2
    return watershed(grad, seeds) == 1, grad
def add_edged(a, grown, grad, ths):
    gref = np.median(grad[ndimage.binary_dilation(a, iterations=3) ^ ndimage.binary_erosion(a, iterations=3)]) if a.any() else 1.0
    extra = grown & ~a
    lab, n = ndimage.label(extra)
    adj = ndimage.binary_dilation(a)
    outs = {th: a.copy() for th in ths}
    for c, sl in enumerate(ndimage.find_objects(lab), 1):
        sl = tuple(slice(max(0, x.start - 2), x.stop + 2) for x in sl)
        comp = lab[sl] == c
        if not (comp & adj[sl]).any(): continue
        outer = ndimage.binary_dilation(comp) & ~comp & ~a[sl] & ~grown[sl]
        if not outer.any(): continue
        gm = grad[sl][outer].mean() / max(gref, 1e-6)
        for th in ths:
            if gm >= th: outs[th][sl] |= comp
    return outs
for f in sys.argv[1:]:
    d = np.load(f + ".npz", allow_pickle=True); res = json.load(open(f + "/results.json"))["trials"]
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    for i in range(len(d["answer"])):
        a, g, t, s, im = d["answer"][i], d["growcut"][i], d["target"][i], d["strokes"][i], d["image"][i].astype(np.float32)
        ds = res[i]["dataset"]
        out[ds]["ans"].append(dice(a, t)); out[ds]["gc"].append(dice(g, t))
        w, grad = ws_strokes(im, s)
        out[ds]["ws"].append(dice(w, t)); out[ds]["ans|ws"].append(dice(a | w, t))
        for th, u in add_edged(a, g, grad, (0.5, 1.0, 1.5)).items(): out[ds][f"gc{th}"].append(dice(u, t))
        t0 = time.perf_counter()
        o = add_edged(a, w, grad, (0.5, 1.0, 1.5))
        out[ds]["ms"].append((time.perf_counter() - t0) * 1000)
        for th, u in o.items(): out[ds][f"ws{th}"].append(dice(u, t))
    print(f)
    for ds, m in out.items():
        print("  ", ds, len(m["ans"]), " ".join(f"{k}={np.mean(v):.3f}" for k, v in m.items()))

import sys, numpy as np, json, collections
from scipy import ndimage
def dice(a, t):
    s = a.sum() + t.sum(); return 1.0 if s == 0 else 2 * (a & t).sum() / s
def enclosed_comp(s, r):
    neg = s == 2
    if r: neg = ndimage.binary_dilation(neg, iterations=r)
    lab, _ = ndimage.label(~neg)
    ids = np.unique(lab[s == 1]); ids = ids[ids > 0]
    comp = np.isin(lab, ids)
    enc = not (comp[0].any() or comp[-1].any() or comp[:, 0].any() or comp[:, -1].any())
    return enc, comp
for f in sys.argv[1:]:
    d = np.load(f + ".npz", allow_pickle=True); res = json.load(open(f + "/results.json"))["trials"]
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    for i in range(len(d["answer"])):
        a, g, t, s = d["answer"][i], d["growcut"][i], d["target"][i], d["strokes"][i]
        ds = res[i]["dataset"]
        out[ds]["ans"].append(dice(a, t)); out[ds]["gc"].append(dice(g, t))
        for r in (0, 1, 2, 4):
            enc, comp = enclosed_comp(s, r)
            out[ds][f"enc{r}"].append(enc)
            out[ds][f"V1r{r}"].append(dice(a | g, t) if enc else dice(a, t))
            out[ds][f"V1gc_r{r}"].append(dice(g, t) if enc else dice(a, t))
        for mm in (4, 8, 16):
            near = ndimage.binary_dilation(a, iterations=mm)
            out[ds][f"V3_{mm}"].append(dice(a | (g & near), t))
    print(f)
    for ds, m in out.items():
        print("  ", ds, len(m["ans"]), " ".join(f"{k}={np.mean(v):.3f}" for k, v in m.items()))

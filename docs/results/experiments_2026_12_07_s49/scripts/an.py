import numpy as np, sys
from collections import defaultdict
for s in sys.argv[1:]:
    d = np.load(f"runs/s49/fc_heldout_{s}.npz")
    dice, dd, lab, ds = d["dice"], d["default_dice"], d["label"], d["dataset"]
    iou = d["iou"]
    print(f"== {s}: n={len(dd)} default {dd.mean():.3f} fixed {np.round(dice.mean(0),3)} oracle {dice.max(1).mean():.3f} iou-pick {dice[np.arange(len(dd)), iou[:,1:].argmax(1)].mean():.3f}")
    g = defaultdict(list)
    for i,l in enumerate(lab): g[(ds[i], l)].append(i)
    for k, ix in sorted(g.items()):
        ix = np.array(ix)
        print(f"  {k[0]:5s} {k[1][:22]:22s} n={len(ix):3d} eng {dd[ix].mean():.3f} o1/2/3 {np.round(dice[ix].mean(0),3)} best {dice[ix].max(1).mean():.3f}")

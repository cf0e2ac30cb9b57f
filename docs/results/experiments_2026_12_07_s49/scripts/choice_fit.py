"""Offline: click choice heads with other features / margins, patient CV on training clicks, held-out report."""
import sys
import numpy as np
sys.path.insert(0, "scripts")
import fit_click_selector as f

def feats(rec, kind):
    x = f.features(rec, "token")
    if kind == "token":
        return x
    if kind == "token+region":
        return np.concatenate([x, rec["region"]], 1)
    if kind == "region":
        return np.concatenate([f.features(rec, "scores"), rec["region"]], 1)
    if kind == "scores":
        return f.features(rec, "scores")

def avg(s):
    return np.mean([v["picked"] for v in s.values()]), np.mean([v["engine"] for v in s.values()]), np.mean([v["oracle"] for v in s.values()])

train_path, val_path = sys.argv[1], sys.argv[2]
tr, va = dict(np.load(train_path)), dict(np.load(val_path))
# engine's IoU-head pick as the held-out baseline (the final file's head may override)
iou_pick_val = va["iou"][:, 1:].argmax(1)
base = f.summary(va, iou_pick_val)
print("held-out IoU-head pick per dataset", {k: v["picked"] for k, v in base.items()}, "avg %.3f" % avg(base)[0])
for l2 in (0.01, 0.1):
  for kind in ("scores", "token", "region", "token+region"):
    xt, xv = feats(tr, kind), feats(va, kind)
    for margin in (0.0, 0.4, 0.8):
        cv = f.cross_validated(tr, xt, l2, 0.0, margin)
        s_cv = f.summary(tr, cv)
        w, b = f.fit_on(tr, xt, l2, 0.0)
        ch = f.picks(w, b, xv, va["iou"], margin)
        s_v = f.summary(va, ch)
        worst = f.structure_changes({**va, "default_dice": va["dice"][np.arange(len(ch)), iou_pick_val]}, ch)[:2]
        print(f"l2={l2} {kind:13s} m={margin}: CV picked {avg(s_cv)[0]:.3f} (iou {np.mean([tr['dice'][np.arange(len(cv)), tr['iou'][:,1:].argmax(1)][tr['dataset']==d].mean() for d in np.unique(tr['dataset'])]):.3f})"
              f" | held-out {avg(s_v)[0]:.3f} btcv {s_v['btcv']['picked']:.3f} brats {s_v['brats']['picked']:.3f} | worst {[(w_[1][:10], round(w_[4]-w_[3],3)) for w_ in worst]}")

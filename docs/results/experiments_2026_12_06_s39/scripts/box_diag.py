"""Box alone on training-patient BTCV slices: Dice of every decoder output, in the box's object view and in the body's
view, per structure. Not a test."""
import json, sys, collections, pathlib, numpy as np, torch
from medpclip.engine import Engine, policy
from medpclip.data.geometry import extract_slice, slice_pixel_spacing
from medpclip.data.views import object_window, union_bounds
from medpclip.data.masks import dice, tight_box
from medpclip.data.volume import read_label
PATIENTS = sys.argv[1].split(",")
root = pathlib.Path("../shared/training/btcv_2d")
eng = Engine.from_checkpoint(None, threads=2)
m = eng.model
rows = []
for d in sorted(root.iterdir()):
    meta = json.loads((d / "meta.json").read_text())
    if meta.get("patient") not in PATIENTS: continue
    names = json.loads((d / "labels.json").read_text())
    s = eng.open(d / "image.nii.gz")
    lab = s.orient.array_to_canonical(read_label(d / "label.nii.gz", like=s.volume).array)
    idx = 0 if lab.shape[0] == 1 else None
    for plane_idx in range(lab.shape[0]):
        sl = extract_slice(lab, "axial", plane_idx)
        for v in np.unique(sl)[1:]:
            tgt = sl == v
            if tgt.sum() < 50: continue
            box = tight_box(tgt)
            sp = slice_pixel_spacing(s.spacing, "axial")
            win = object_window(box, sp)
            ctx = s.context_window("axial")
            out = {}
            for name, w in (("obj", win), ("ctx", ctx)):
                grid = s.grid("axial", w)
                f = s.cache.get_views("axial", plane_idx, [w])[0]
                pr = s._prompts(grid, [], box, None, None)
                with torch.inference_mode():
                    o = m.prompted(f, pr)
                for k in range(o.masks.shape[1]):
                    mk = (grid.logits_to_slice(o.masks[0, k].float()) > 0).numpy()
                    out[f"{name}{k}"] = round(dice(mk, tgt), 4)
                    out[f"{name}{k}_iou"] = round(float(o.iou[0, k]), 3)
                    out[f"{name}{k}_area"] = int(mk.sum())
            rows.append({"case": d.name, "patient": meta["patient"], "structure": str(names.get(str(int(v)), v)), "pixels": int(tgt.sum()), **out})
    s.close()
json.dump(rows, open(sys.argv[2], "w"))
print(len(rows), "box_output", int(m.box_output))

"""Box alone on training-patient BTCV slices: output box_output in object views at several scales, logits averaged.
Not a test."""
import json, sys, pathlib, itertools, numpy as np, torch
from medpclip.engine import Engine
from medpclip.data.geometry import extract_slice, slice_pixel_spacing
from medpclip.data.views import object_window, OBJECT_SCALE
from medpclip.data.masks import dice, tight_box
from medpclip.data.volume import read_label
PATIENTS = sys.argv[1].split(",")
SCALES = [float(x) for x in sys.argv[3].split(",")]
root = pathlib.Path(sys.argv[4] if len(sys.argv) > 4 else "../shared/training/btcv_2d")
eng = Engine.from_checkpoint(None, threads=2)
m = eng.model; K = int(m.box_output)
rows = []
for d in sorted(root.iterdir()):
    meta = json.loads((d / "meta.json").read_text())
    if meta.get("patient") not in PATIENTS: continue
    names = json.loads((d / "labels.json").read_text())
    s = eng.open(d / "image.nii.gz")
    lab = s.orient.array_to_canonical(read_label(d / "label.nii.gz", like=s.volume).array)
    sp = slice_pixel_spacing(s.spacing, "axial")
    for idx in range(lab.shape[0]):
        sl = extract_slice(lab, "axial", idx)
        if not sl.any(): continue
        for v in np.unique(sl)[1:]:
            tgt = sl == v
            if tgt.sum() < 50: continue
            box = tight_box(tgt)
            wins = [object_window(box, sp, scale=OBJECT_SCALE * f) for f in SCALES]
            res = s.predict_views("axial", idx, [], wins, box=box, users_box=True)
            logits = [r.logits.float() for r in res]
            out = {f"s{f}": round(dice((l > 0).numpy(), tgt), 4) for f, l in zip(SCALES, logits)}
            for n in range(2, len(SCALES) + 1):
                for combo in itertools.combinations(range(len(SCALES)), n):
                    avg = torch.stack([logits[i] for i in combo]).mean(0)
                    out["avg" + "_".join(str(SCALES[i]) for i in combo)] = round(dice((avg > 0).numpy(), tgt), 4)
                    pavg = torch.stack([torch.sigmoid(logits[i]) for i in combo]).mean(0)
                    out["pavg" + "_".join(str(SCALES[i]) for i in combo)] = round(dice((pavg > 0.5).numpy(), tgt), 4)
            rows.append({"case": d.name, "patient": meta["patient"], "structure": str(names.get(str(int(v)), v)), **out})
    s.close()
json.dump(rows, open(sys.argv[2], "w"))
keys = [k for k in rows[0] if k not in ("case", "patient", "structure")]
import collections
for k in keys: print(k, round(float(np.mean([r[k] for r in rows])), 4))

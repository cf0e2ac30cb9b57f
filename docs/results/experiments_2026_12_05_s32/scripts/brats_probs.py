"""Probabilities of the four BRATS names for each sub-region's 3D mask (3 largest slices), per patient/sequence."""
import sys, json
import numpy as np
from medpclip.engine import Engine
from medpclip.data.volume import read_image, read_label
names = ["necrotic tumour core", "peritumoral edema", "non-enhancing tumour", "enhancing tumour"]
ckpt = sys.argv[1] if len(sys.argv) > 1 else None
eng = Engine.from_checkpoint(ckpt, threads=1) if ckpt else Engine.from_checkpoint(threads=1)
for pat in ("0003", "0005", "0006"):
    for seq in ("flair", "t1c"):
        d = f"../shared/training/brats_pat{pat}_{seq}"
        vol = read_image(f"{d}/image.nii.gz")
        lab = read_label(f"{d}/label.nii.gz").array
        s = eng.open(vol)
        row = []
        for v in (1, 2, 3, 4):
            m = lab == v
            if m.sum() < 50:
                row.append(f"{names[v-1][:6]}: -"); continue
            r = s.identify(mask=m, vocabulary=names, top_k=4)
            p = {x["name"]: x["score"] for x in r}
            row.append(f"{names[v-1][:6]}->" + " ".join(f"{p.get(n, 0):.2f}" for n in names))
        print(pat, seq, " | ".join(row), flush=True)

"""Session 48: one line per held-out result (README protocol): dataset-averaged click Dice@1 / @5 and box Dice@1,
BTCV / BRATS first click, one-click 3D, naming Top-1 by mask, and the mean first click on the 65 contrast-filled
vessel items (aorta, IVC, portal / splenic vein). usage: summary.py NAME=results.json ..."""

from __future__ import annotations

import json
import sys

VESSELS = {"aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein"}


def row(path: str) -> list[float]:
    d = json.load(open(path))
    avg = d["dataset_average"]["methods"]["medpclip"]
    ds = {k: v["methods"]["medpclip"] for k, v in d["datasets"].items()}
    vessels = [t["dice"][0] for t in d["trials_2d"] if t["first"] == "click" and t["structure"] in VESSELS]
    return [avg["click"]["dice@1"], avg["click"]["dice@5"], avg["box"]["dice@1"], ds["btcv"]["click"]["dice@1"],
            ds["brats"]["click"]["dice@1"], d["dataset_average"]["one_click_3d"]["dice"], avg["click"]["top1"],
            sum(vessels) / len(vessels)]


print("| file | Dice@1 | Dice@5 | box | BTCV Dice@1 | BRATS Dice@1 | one-click 3D | naming Top-1 | vessels' first click (65) |")
print("|---|---|---|---|---|---|---|---|---|")
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row(path)) + " |")

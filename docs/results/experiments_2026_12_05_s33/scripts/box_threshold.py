"""Does a box's answer over- or under-segment, and would another probability threshold serve it better?
The benchmark's box items (tight box of the reference, patient mode: 4 slices per case, 6 largest structures),
through the public contract (``session.segment`` with ``with_uncertainty``: p = 1 - u/2 inside, u/2 outside);
per dataset and structure: Dice at thresholds, predicted / reference area. Session 33 (issue 12).

    python box_threshold.py --patients P1,P2 [--checkpoint X] --out FILE.json
"""
import argparse, json
from collections import defaultdict

import numpy as np

from medpclip.data.masks import dice

from answers import answer, box_prompt, items

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ap = argparse.ArgumentParser()
ap.add_argument("--patients", required=True)
ap.add_argument("--checkpoint")
ap.add_argument("--out", required=True)
a = ap.parse_args()
rows = []
for s, case, ds, it, ref in items(a.patients, a.checkpoint):
    m, p = answer(s, it.idx, box_prompt(s, it.idx, ref))
    rows.append({"dataset": ds, "case": case.spec.name, "structure": str(it.value) + ":" + str(getattr(it.concept, "name", it.concept)),
                 "pixels": int(ref.sum()), "pred": int(m.sum()),
                 "dice": {str(t): float(dice(p > t, ref)) for t in THRESHOLDS}, "dice_mask": float(dice(m, ref))})
json.dump(rows, open(a.out, "w"), indent=0)
by = defaultdict(list)
for r in rows:
    by[r["dataset"]].append(r)
for d, rs in sorted(by.items()):
    print(d, len(rs), "mask", round(np.mean([r["dice_mask"] for r in rs]), 4),
          " ".join(f"{t}:{np.mean([r['dice'][str(t)] for r in rs]):.4f}" for t in THRESHOLDS),
          "area ratio median", round(float(np.median([r["pred"] / r["pixels"] for r in rs])), 3))

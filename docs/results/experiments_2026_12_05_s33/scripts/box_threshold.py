"""Does a box's answer over- or under-segment, and would another probability threshold serve it better?
The benchmark's box items (tight box of the reference, patient mode: 4 slices per case, 6 largest structures),
through the public contract (``session.segment`` with ``with_uncertainty``: p = 1 - u/2 inside, u/2 outside);
per dataset and structure: Dice at thresholds, predicted / reference area. Session 33 (issue 12).

    python box_threshold.py --patients P1,P2 [--checkpoint X] --out FILE.json
"""
import argparse, json
from collections import defaultdict

import numpy as np
import torch

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice, tight_box
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items
from medpclip.evaluation.patients import FULL_EXTENT, dataset_name, case_meta, resolve_cases
from medpclip.evaluation.benchmark import BenchmarkOptions
from medpclip.evaluation.runners import canon_to_input_point

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ap = argparse.ArgumentParser()
ap.add_argument("--patients", required=True)
ap.add_argument("--checkpoint")
ap.add_argument("--out", required=True)
a = ap.parse_args()
torch.set_num_threads(1)
eng = Engine.from_checkpoint(a.checkpoint)
opts = BenchmarkOptions(data="../shared/training", out="", patients=tuple(a.patients.split(",")))
rows = []
for spec in resolve_cases(opts):
    case = load_case(spec)
    ds = dataset_name(case.spec.name, case_meta(case.spec))
    _, items, _ = case_items(case, FULL_EXTENT, 20, 6, 4)
    s = eng.open(case.image)
    for it in items:
        ref = extract_slice(case.canon_label, "axial", it.idx) == it.value
        x0, y0, x1, y1 = tight_box(ref)
        s.forget_feedback("axial", it.idx)
        prompt = {"space": "ijk", "mode": "2d", "slice": s.input_slice_index("axial", it.idx),
                  "box": canon_to_input_point(s, x0, y0, it.idx) + canon_to_input_point(s, x1, y1, it.idx)}
        r = s.segment(prompt, with_uncertainty=True)
        m = extract_slice(s.orient.array_to_canonical(r.mask), "axial", it.idx) > 0
        u = extract_slice(s.orient.array_to_canonical(r.uncertainty), "axial", it.idx)
        p = np.where(m, 1 - u / 2, u / 2)
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

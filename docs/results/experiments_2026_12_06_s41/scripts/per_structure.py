"""Per-structure MedP-CLIP Dice, BASE -> CANDIDATE, for two `medpclip benchmark --protocol strokes|scribbles`
results.json files (the stroke protocol: mean Dice after each stroke; scribbles: mean Dice).

    python per_structure.py BASE.json CANDIDATE.json
"""
import json
import sys
from collections import defaultdict

import numpy as np


def per_structure(path: str) -> dict[str, np.ndarray]:
    data = json.load(open(path))
    if data["protocol"] == "scribbles":
        return {k: np.array([v["medpclip"]]) for k, v in data["structures"].items()}
    groups = defaultdict(list)
    for t in data["trials"]:
        groups[t["structure"]].append(t["medpclip"])
    return {k: np.mean(v, axis=0) for k, v in groups.items()}


base, cand = per_structure(sys.argv[1]), per_structure(sys.argv[2])
for k in sorted(base):
    d = cand[k] - base[k]
    print(f"{k:40s} {np.round(base[k], 3)} -> {np.round(cand[k], 3)}  {np.round(d, 3)}")

"""Per dataset and structure, from a patient-level benchmark run with --alternatives: Dice of the first click
(the engine's pick), the best of its first 2 / 3 answers, and Dice@2 (a correction click instead). Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s44/scripts/answers_per_structure.py RUN/results.json
"""

import collections
import json
import sys

import numpy as np

trials = [t for t in json.load(open(sys.argv[1]))["trials_2d"] if t["first"] == "click" and t.get("answers_dice")]
print("dataset | structure | n | first click | best of 2 answers | best of 3 answers | Dice@2 (correction click)")
groups = collections.defaultdict(list)
for t in trials:
    row = (t["dice"][0], max(t["answers_dice"][:2]), max(t["answers_dice"]), t["dice"][1])
    groups[(t["dataset"], "(all)")].append(row)
    groups[(t["dataset"], t["label"])].append(row)
for (ds, label), rows in sorted(groups.items()):
    m = np.mean(rows, axis=0)
    print(f"{ds} | {label} | {len(rows)} | " + " | ".join(f"{v:.3f}" for v in m))

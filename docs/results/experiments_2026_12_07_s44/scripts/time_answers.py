"""Latency of a first click's answer 0 (the engine's pick) against its other answers 1 and 2, on a cached slice of
the held-out BTCV sample (512 x 512): every labelled structure's deepest point, REPEATS rounds, 2 threads. Not a
test; prints medians of the engine's total_ms.

    .venv/bin/python docs/results/experiments_2026_12_07_s44/scripts/time_answers.py
"""

import statistics

import numpy as np

from medpclip.data.masks import max_edt_point
from medpclip.data.volume import read_image, read_label
from medpclip.engine import Engine

CASE = "Resources/SampleData/heldout_patients/btcv_ABD_030_105"
REPEATS = 5

engine = Engine.from_checkpoint(threads=2)
volume = read_image(f"{CASE}/image.nii.gz", modality="CT")
labels = read_label(f"{CASE}/label.nii.gz", like=volume).array
session = engine.open(volume)
clicks = []
for value in sorted(int(v) for v in np.unique(labels) if v):
    mask = labels == value
    k = int(np.argmax(mask.sum(axis=(1, 2))))
    r, c = max_edt_point(mask[k])
    clicks.append([float(c), float(r), float(k)])
session.segment({"points": [clicks[0]]})  # encode the slice once: every timed click is on a cached slice
times = {a: [] for a in range(3)}
for n in range(REPEATS):
    for click in clicks:
        for a in (0, 1, 2) if n % 2 == 0 else (2, 1, 0):  # both orders: the first of a click's three pays more
            session.forget_feedback()
            times[a].append(session.segment({"points": [click], "alternative": a}).latency_ms["total_ms"])
for a, values in times.items():
    print(f"answer {a}: median {statistics.median(values):.1f} ms over {len(values)} clicks")

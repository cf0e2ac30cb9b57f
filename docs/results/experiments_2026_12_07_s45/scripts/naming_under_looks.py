"""Naming by mask (Top-1 among the case's names) and the first click's Dice on the held-out BTCV slices when the
8-bit image is given another look: another display window (linear, clipped), gamma, blur, noise. Which part of a
scanner's look does naming depend on? Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/naming_under_looks.py ../shared/training
    BODY_PERCENTILES=1 .venv/bin/python ... (the trial normalisation of display-scaled CT below)
    CHECKPOINT=runs/s45/looks_wide_align/medpclip.safetensors THREADS=1 .venv/bin/python ... (another checkpoint)
"""
import collections
import sys
from dataclasses import replace

import numpy as np
from scipy.ndimage import gaussian_filter

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice, insert_slice
from medpclip.data.masks import dice, max_edt_point
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import FULL_EXTENT, select_patients
from medpclip.evaluation.runners import canon_to_input_point

LOOKS = {
    "as given": lambda a, rng: a,
    "window 1.5x contrast": lambda a, rng: np.clip((a - 128) * 1.5 + 128, 0, 255),
    "window 0.67x contrast": lambda a, rng: np.clip((a - 128) / 1.5 + 128, 0, 255),
    "level +30": lambda a, rng: np.clip(a + 30, 0, 255),
    "gamma 0.5": lambda a, rng: 255 * (a / 255) ** 0.5,
    "blur 1 px": lambda a, rng: gaussian_filter(a, (0, 1, 1)),  # [k, j, i]
    "noise 6": lambda a, rng: np.clip(a + rng.normal(0, 6, a.shape), 0, 255),
}
import os
if os.environ.get("BODY_PERCENTILES"):  # trial: display-scaled CT mapped by its body's 25th / 75th percentiles
    from skimage.filters import threshold_otsu
    from medpclip.data import intensity
    REF = (0.4392, 0.5118)  # the training BTCV slices' median body p25 / p75 after / 255 (BTCV_001-007, 021-027)
    original = intensity.intensity_range

    def body_range(array, modality, window="abdomen", encoding=None):
        bounds = original(array, modality, window, encoding)
        if bounds != intensity.DISPLAY_RANGE:
            return bounds
        a = np.asarray(array, np.float32)
        body = a[a > threshold_otsu(a)]
        p25, p75 = np.percentile(body, [25, 75])
        scale = (p75 - p25) / (REF[1] - REF[0])
        return float(p25 - REF[0] * scale), float(p25 - REF[0] * scale + scale)

    intensity.intensity_range = body_range
engine = Engine.from_checkpoint(os.environ.get("CHECKPOINT") or None, threads=int(os.environ.get("THREADS", "2")))
right = collections.defaultdict(list)
clicks = collections.defaultdict(list)
specs = select_patients(load_specs([sys.argv[1]], walk=True), "BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030".split(","))
for spec in specs:
    case = load_case(spec)
    _, items, _ = case_items(case, FULL_EXTENT, 20, 6, 4)
    names = [case.spec.labels[v] for v in case.concepts]
    raw = case.image.array.astype(np.float32)
    for look, fn in LOOKS.items():
        rng = np.random.default_rng(0)
        session = engine.open(replace(case.image, array=np.rint(fn(raw.copy(), rng)).astype(np.float32)))
        for item in items:
            target = extract_slice(case.canon_label, "axial", item.idx) == item.value
            vol = np.zeros(case.canon_label.shape, bool)
            insert_slice(vol, "axial", item.idx, target)
            top = session.identify(mask=session.to_input(vol), vocabulary=names, top_k=1)[0]["id"]
            right[look].append(top == item.concept.id)
            r, c = max_edt_point(target)
            res = session.segment({"space": "ijk", "points": [canon_to_input_point(session, c, r, item.idx)],
                                   "slice": session.input_slice_index("axial", item.idx), "mode": "2d"})
            pred = extract_slice(session.orient.array_to_canonical(res.mask), "axial", item.idx) > 0
            clicks[look].append(dice(pred, target))
        session.close()
print("look | items | naming Top-1 by mask | first click Dice@1")
for look in LOOKS:
    print(f"{look} | {len(right[look])} | {np.mean(right[look]):.3f} | {np.mean(clicks[look]):.3f}")

"""Time of naming a segmentation's regions together against naming each alone (the sample CT's label map: every
value, 3D masks; 2 threads). Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s44/scripts/time_name_together.py
"""

import time

import numpy as np

from medpclip.data.volume import read_image, read_label
from medpclip.engine import Engine

CASE = "Resources/SampleData/totalseg_ct_abdomen"
engine = Engine.from_checkpoint(threads=2)
volume = read_image(f"{CASE}/image.nii.gz")
labels = read_label(f"{CASE}/label.nii.gz", like=volume).array
session = engine.open(volume)
masks = [labels == v for v in sorted(int(v) for v in np.unique(labels) if v)]
session.identify(mask=masks[0])  # warm: the slices' features and body frames
t0 = time.perf_counter()
for mask in masks:
    session.identify(mask=mask)
alone = time.perf_counter() - t0
t0 = time.perf_counter()
session.identify_together(masks)
together = time.perf_counter() - t0
print(f"{len(masks)} regions: alone {alone:.2f} s ({1000 * alone / len(masks):.0f} ms each), "
      f"together {together:.2f} s ({1000 * together / len(masks):.0f} ms each)")

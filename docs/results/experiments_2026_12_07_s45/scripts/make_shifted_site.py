"""A simulated scanner for the site fine-tune experiment: copies of BTCV case folders whose 8-bit display-scaled
images get one fixed look (gamma 0.5 on [0, 1], Gaussian blur of 1 px, Gaussian noise of 6 grey levels, seeded per
case), labels unchanged. Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/make_shifted_site.py SRC_CASE_DIR... OUT_DIR
"""
import shutil
import sys
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter

*sources, out = sys.argv[1:]
for src in map(Path, sources):
    dest = Path(out) / src.name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("label.nii.gz", "labels.json", "meta.json"):
        shutil.copy(src / f, dest / f)
    img = nib.load(src / "image.nii.gz")
    a = np.asarray(img.dataobj).astype(np.float32) / 255.0
    rng = np.random.default_rng(zlib.crc32(src.name.encode()))
    a = gaussian_filter(a ** 0.5, sigma=(1, 1, 0)) * 255 + rng.normal(0, 6, a.shape)
    nib.save(nib.Nifti1Image(np.clip(a, 0, 255).astype(np.uint8), img.affine, img.header), dest / "image.nii.gz")

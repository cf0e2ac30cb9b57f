"""Intensity normalisation by modality, with MONAI transforms: CT window presets, MR percentile scaling."""

from __future__ import annotations

import numpy as np

# (lower, upper) Hounsfield windows; "abdomen" (level 40, width 400) is the default the model is trained on.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "abdomen": (-160.0, 240.0),
    "soft_tissue": (-125.0, 225.0),
    "lung": (-1350.0, 150.0),
    "bone": (-450.0, 1050.0),
    "brain": (0.0, 80.0),
}
MR_PERCENTILES = (0.5, 99.5)


def normalise(array: np.ndarray, modality: str, window: str = "abdomen") -> np.ndarray:
    """Scale a volume to [0, 1] float32: CT through a window preset, anything else by percentiles."""
    from monai.transforms import ScaleIntensityRange, ScaleIntensityRangePercentiles

    arr = np.asarray(array, dtype=np.float32)
    if modality.upper() == "CT":
        if window not in CT_WINDOWS:
            raise ValueError(f"unknown CT window {window!r}; choose one of {sorted(CT_WINDOWS)}")
        lo, hi = CT_WINDOWS[window]
        out = ScaleIntensityRange(a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True)(arr)
    else:
        lo_p, hi_p = MR_PERCENTILES
        lo, hi = np.percentile(arr, [lo_p, hi_p])
        if hi - lo < 1e-6:  # constant image: percentile scaling would divide by zero
            return np.zeros_like(arr)
        out = ScaleIntensityRangePercentiles(lower=lo_p, upper=hi_p, b_min=0.0, b_max=1.0, clip=True)(arr)
    return np.asarray(out, dtype=np.float32)

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


# MR percentiles of volumes larger than this are taken on an evenly strided subsample (memory, speed)
PERCENTILE_SAMPLE = 2**24


def intensity_range(array: np.ndarray, modality: str, window: str = "abdomen") -> tuple[float, float] | None:
    """The (lo, hi) intensities mapped to 0 and 1: a CT window preset, else MR percentiles; None if constant."""
    if modality.upper() == "CT":
        if window not in CT_WINDOWS:
            raise ValueError(f"unknown CT window {window!r}; choose one of {sorted(CT_WINDOWS)}")
        return CT_WINDOWS[window]
    flat = np.asarray(array).reshape(-1)
    if flat.size > PERCENTILE_SAMPLE:
        flat = flat[:: int(np.ceil(flat.size / PERCENTILE_SAMPLE))]
    lo, hi = (float(v) for v in np.percentile(flat, MR_PERCENTILES))
    return None if hi - lo < 1e-6 else (lo, hi)  # constant: scaling would divide by zero


def normalise(array: np.ndarray, modality: str, window: str = "abdomen", chunk: int = 16) -> np.ndarray:
    """Scale a volume to [0, 1]: a new C-contiguous float32 array, also from a non-contiguous view (e.g. a
    reoriented one). The mapping is MONAI's ``ScaleIntensityRange(a_min=lo, a_max=hi, b_min=0, b_max=1,
    clip=True)`` (a test holds them equal), computed in place slab by slab (``chunk`` slices along axis 0).
    Measured on a 512 x 512 x 300 CT: calling the MONAI transform per slab raised resident memory by 1.35 GB
    (a tensor per call); this raises it by the 0.3 GB of the output only."""
    out = np.zeros(array.shape, np.float32)
    bounds = intensity_range(array, modality, window)
    if bounds is None:
        return out
    lo, hi = bounds
    for k in range(0, array.shape[0], chunk):
        slab = out[k:k + chunk]
        slab[...] = array[k:k + chunk]
        slab -= lo
        slab /= hi - lo
        np.clip(slab, 0.0, 1.0, out=slab)
    return out

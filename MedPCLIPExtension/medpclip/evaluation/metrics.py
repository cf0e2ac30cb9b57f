"""3D metrics and the 3D correction click of the benchmark's volume protocol (the 2D ones are in ``data.masks``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..data.masks import largest_error_component


def surface_dice(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float], tolerance_mm: float) -> float:
    """Normalised surface Dice (NSD): share of both surfaces within ``tolerance_mm`` of the other; spacing in
    array-axis order. 1.0 when both are empty, 0.0 when only one is."""
    p, t = np.asarray(pred, bool), np.asarray(target, bool)
    if not p.any() and not t.any():
        return 1.0
    if not p.any() or not t.any():
        return 0.0
    sp = tuple(float(s) for s in spacing)

    def surface(m: np.ndarray) -> np.ndarray:
        return m & ~ndimage.binary_erosion(m, border_value=0)

    sp_, st_ = surface(p), surface(t)
    dt_t = ndimage.distance_transform_edt(~st_, sampling=sp)
    dt_p = ndimage.distance_transform_edt(~sp_, sampling=sp)
    close = (dt_t[sp_] <= tolerance_mm).sum() + (dt_p[st_] <= tolerance_mm).sum()
    return float(close / (sp_.sum() + st_.sum()))


def max_edt_point_3d(mask: np.ndarray, spacing: Sequence[float]) -> tuple[int, int, int] | None:
    """(k, row, col) of the voxel deepest inside a 3D mask, distances in mm; lowest index on ties."""
    m = np.asarray(mask, bool)
    if not m.any():
        return None
    edt = ndimage.distance_transform_edt(np.pad(m, 1), sampling=tuple(float(s) for s in spacing))[1:-1, 1:-1, 1:-1]
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(edt)), m.shape))


def correction_click_3d(pred: np.ndarray, target: np.ndarray,
                        spacing: Sequence[float]) -> tuple[tuple[int, int, int], int] | None:
    """((k, row, col), label) in the largest 3D error component (missed -> 1, spilled -> 0); None if equal."""
    error = largest_error_component(pred, target)
    if error is None:
        return None
    label, comp = error
    return max_edt_point_3d(comp, spacing), label

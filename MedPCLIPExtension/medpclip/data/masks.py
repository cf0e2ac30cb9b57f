"""Mask utilities and deterministic click simulation (DESIGN.md section 8), shared by the engine, training,
evaluation and benchmarks.

First click: the interior point farthest from the boundary (max of the Euclidean distance transform,
ties broken by the lowest (row, col)). Correction click: in the largest connected error component
(missed -> positive, spilled -> negative), at that component's max-EDT point.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def max_edt_point(mask: np.ndarray) -> tuple[int, int] | None:
    """(row, col) of the point deepest inside ``mask`` (2D bool), or None for an empty mask."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return None
    # pad so that pixels on the image border count as boundary
    edt = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    flat = int(np.argmax(edt))
    return divmod(flat, m.shape[1])


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive pixel box of a 2D mask, or None if empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def largest_error_component(pred: np.ndarray, target: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(label, component) of the largest connected error region of a 2D or 3D result: missed -> 1, spilled -> 0;
    on a size tie the missed region first. None when pred == target."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    errors = []
    for region, label in ((target & ~pred, 1), (pred & ~target, 0)):
        lab, n = ndimage.label(region)
        if n:
            sizes = np.bincount(lab.ravel())[1:]
            best = int(np.argmax(sizes)) + 1
            errors.append((int(sizes[best - 1]), label, lab == best))
    if not errors:
        return None
    _, label, comp = max(errors, key=lambda e: (e[0], e[1]))
    return label, comp


def correction_click(pred: np.ndarray, target: np.ndarray) -> tuple[tuple[int, int], int] | None:
    """Next click ((row, col), label) for the largest error component; None when pred == target."""
    error = largest_error_component(pred, target)
    if error is None:
        return None
    label, comp = error
    return max_edt_point(comp), label


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """Dice of two binary masks; 1.0 when both are empty."""
    p, t = np.asarray(pred, bool), np.asarray(target, bool)
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2.0 * (p & t).sum() / denom)


def iou(pred: np.ndarray, target: np.ndarray) -> float:
    p, t = np.asarray(pred, bool), np.asarray(target, bool)
    union = (p | t).sum()
    return 1.0 if union == 0 else float((p & t).sum() / union)


def noc(ious: list[float], threshold: float, cap: int = 20) -> int:
    """Number of clicks to reach ``threshold`` IoU (1-based); ``cap`` if never reached."""
    for n, v in enumerate(ious, start=1):
        if v >= threshold:
            return n
    return cap


def largest_slices(mask: np.ndarray, axis: int, n: int = 1) -> list[int]:
    """Indices along array ``axis`` of the ``n`` slices of a 3D mask with the most voxels (ties: the lower
    index first); empty slices are left out."""
    areas = np.asarray(mask).sum(axis=tuple(a for a in range(3) if a != axis))
    return [int(i) for i in np.argsort(-areas, kind="stable")[:n] if areas[i] > 0]

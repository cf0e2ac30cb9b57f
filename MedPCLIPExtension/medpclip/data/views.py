"""Which part of a slice the model looks at (docs/DESIGN-NOTES.md, "Prompt-centred views").

Two kinds of view, shared by the engine and by training so that both see slices the same way:

- the **context view**: the body's bounding box (arms, table and empty field of view cut away), the same for
  every slice of a volume. The first click of an object is answered here, with the whole body in sight, and
  recognition (naming) always looks at it: MedP-CLIP's global context.
- the **object view**: a square in mm around an object (a box prompt, or the first answer to a click),
  ``OBJECT_SCALE`` x its extent + ``OBJECT_MARGIN_MM``. The object then fills a similar share of the model
  grid whatever the scanner's field of view or pixel size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .geometry import plane_axes
from .slices import Window, square_window

BODY_THRESHOLD = 0.05          # normalised intensity above which a pixel may be body (CT air and MR background ~0)
BODY_MARGIN_MM = 8.0
BODY_GRID_MM = 3.0             # body detection runs on pixels of about this size
OBJECT_SCALE = 1.6             # object view side = OBJECT_SCALE x the object's longer extent ...
OBJECT_MARGIN_MM = 20.0        # ... + this margin,
OBJECT_MIN_MM = 48.0           # but at least this (tiny structures keep some surroundings)


def body_box(canon_kji: np.ndarray, spacing_ijk: np.ndarray) -> tuple[int, int, int, int]:
    """(i0, i1, j0, j1), end exclusive: the in-plane bounding box of the body on a canonical volume, plus a
    margin (it may reach past the image).

    The largest connected component of the thresholded axial maximum projection (after an opening that cuts
    thin bridges), on a grid of about BODY_GRID_MM mm pixels: the patient table and arms lying apart from the trunk
    are separate components and drop out. Falls back to the whole extent when nothing is found."""
    nk, nj, ni = canon_kji.shape
    step = max(1, int(BODY_GRID_MM / float(min(spacing_ijk[0], spacing_ijk[1]))))  # by mm: the same for any FOV
    kstep = max(1, nk // 64)
    proj = (canon_kji[::kstep, ::step, ::step] > BODY_THRESHOLD).any(axis=0)
    opened = ndimage.binary_opening(proj, iterations=2) if min(proj.shape) > 8 else proj
    labels, n = ndimage.label(opened)
    if n == 0:
        return 0, ni, 0, nj
    sizes = ndimage.sum_labels(opened, labels, index=np.arange(1, n + 1))
    ys, xs = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    mi = BODY_MARGIN_MM / float(spacing_ijk[0])
    mj = BODY_MARGIN_MM / float(spacing_ijk[1])
    # not clipped to the image: a body that touches the edge of the field of view gets the same margin (read as
    # zeros) as one in a wide field of view, so both are seen in the same view
    i0 = int(np.floor(xs.min() * step - mi))
    i1 = int(np.ceil((xs.max() + 1) * step + mi))
    j0 = int(np.floor(ys.min() * step - mj))
    j1 = int(np.ceil((ys.max() + 1) * step + mj))
    if (i1 - i0) < 8 or (j1 - j0) < 8:
        return 0, ni, 0, nj
    return i0, i1, j0, j1


def context_window(box: tuple[int, int, int, int], plane: str, slice_shape: tuple[int, int]) -> Window:
    """The body box as a window of a canonical slice of ``plane`` (rows, cols)."""
    i0, i1, j0, j1 = box
    rows, _ = slice_shape
    if plane == "axial":
        return i0, j0, i1, j1
    _, _, col_axis = plane_axes(plane)
    c0, c1 = (i0, i1) if col_axis == 0 else (j0, j1)
    return c0, 0, c1, rows


def mask_extent(mask2d: np.ndarray) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) inclusive pixel bounds of a 2D mask, None when empty (read from its rows' and columns'
    any(), not from every pixel's coordinates: several times faster on a 512 x 512 slice)."""
    mask2d = np.asarray(mask2d)
    rows, cols = np.flatnonzero(mask2d.any(1)), np.flatnonzero(mask2d.any(0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1])


def object_window(bounds: tuple[float, float, float, float], spacing: tuple[float, float],
                  scale: float = OBJECT_SCALE, margin_mm: float = OBJECT_MARGIN_MM,
                  shift: tuple[float, float] = (0.0, 0.0)) -> Window:
    """A square window around inclusive pixel bounds (x0, y0, x1, y1): side = scale x longer extent (mm) +
    margin, at least OBJECT_MIN_MM; ``shift`` moves the centre by a fraction of the side (training jitter)."""
    x0, y0, x1, y1 = bounds
    extent_mm = max((x1 - x0 + 1) * spacing[1], (y1 - y0 + 1) * spacing[0])
    side = max(OBJECT_MIN_MM, scale * extent_mm + margin_mm)
    cx = (x0 + x1) / 2 + shift[0] * side / spacing[1]
    cy = (y0 + y1) / 2 + shift[1] * side / spacing[0]
    return square_window(cx, cy, side, spacing)


def zoomed_window(window: Window, zoom: float, shift: tuple[float, float] = (0.0, 0.0)) -> Window:
    """``window`` scaled about its centre by ``zoom`` (above 1: zoomed out, the slice padded where the window leaves
    it) and moved by ``shift`` pixels."""
    x0, y0, x1, y1 = window
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * zoom / 2, (y1 - y0) * zoom / 2
    dx, dy = shift
    return int(cx - hw + dx), int(cy - hh + dy), int(cx + hw + dx) + 1, int(cy + hh + dy) + 1


def window_side_mm(window: Window, spacing: tuple[float, float]) -> float:
    x0, y0, x1, y1 = window
    return max((x1 - x0) * spacing[1], (y1 - y0) * spacing[0])


def union_bounds(*bounds: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
    got = [b for b in bounds if b is not None]
    if not got:
        return None
    return min(b[0] for b in got), min(b[1] for b in got), max(b[2] for b in got), max(b[3] for b in got)

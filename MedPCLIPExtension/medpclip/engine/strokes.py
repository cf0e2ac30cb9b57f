"""Scribbles and lassos as MedP-CLIP prompts (issue 14).

A stroke enters the model the way every MedP-CLIP prompt does, at feature level: its pixels are painted into the
dense prompt map the trunk fuses (where clicks draw their discs), and a few sparse point tokens are spread evenly
along it (positive or negative, like clicks) for the decoder and the correction rounds. A lasso is a closed
polygon on one slice: its inside is a dense mask prompt (the model's region map) and its bounds a box. Strokes
come as polylines in the prompt (``scribbles``) or as a label map on the image grid (1 = positive stroke,
2 = negative stroke: what Slicer's paint tools and MONAI Label's scribble apps make).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..data.geometry import extract_slice, plane_axes, points_to_slices
from ..data.views import mask_extent
from . import policy

POSITIVE, NEGATIVE = 1, 2   # values of a strokes label map


def polyline_samples(canon_points: np.ndarray, step: float = 0.5) -> np.ndarray:
    """(N, 3) canonical vertices -> points every ``step`` voxels along the polyline (the vertices included)."""
    pts = np.asarray(canon_points, dtype=float).reshape(-1, 3)
    seg = pts[1:] - pts[:-1]
    n = np.maximum(1, np.ceil(np.linalg.norm(seg, axis=1) / step)).astype(int)  # samples per segment
    which = np.repeat(np.arange(len(seg)), n)
    k = np.arange(len(which)) - np.repeat(np.cumsum(n) - n, n) + 1               # 1..n within each segment
    return np.concatenate([pts[:1], pts[:-1][which] + seg[which] * (k / n[which])[:, None]])


def spread(xy: np.ndarray, n: int) -> np.ndarray:
    """``n`` of the ordered points ``xy`` evenly spaced along them (by arc length); fewer when there are fewer."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) <= n:
        return xy
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))]
    if arc[-1] == 0:
        return xy[:1]
    targets = (np.arange(n) + 0.5) * arc[-1] / n
    return xy[np.searchsorted(arc, targets).clip(0, len(xy) - 1)]


def stroke_samples(canon_points: np.ndarray, plane: str, shape_ijk: tuple[int, int, int]) -> dict[int, np.ndarray]:
    """A polyline stroke (canonical vertices) -> its samples (x, y) per canonical slice it crosses, in order."""
    idx, x, y = points_to_slices(polyline_samples(canon_points), plane, shape_ijk)
    xy = np.c_[x, y]
    return {int(i): xy[idx == i] for i in dict.fromkeys(idx.tolist())}  # slices in the order the stroke meets them


def stroke_tokens(samples: dict[int, np.ndarray], label: int) -> dict[int, list[tuple[float, float, int]]]:
    """A stroke's samples per slice -> point tokens per slice, spread evenly along it."""
    return {idx: [(float(x), float(y), label) for x, y in spread(xy, policy.STROKE_TOKENS)]
            for idx, xy in samples.items()}


def draw_samples(stroke_map: np.ndarray, xy: np.ndarray, label: int) -> None:
    """Mark a stroke's samples (x, y) on a (rows, cols) slice strokes map (1 positive, 2 negative stroke)."""
    rows, cols = stroke_map.shape
    c = np.clip(np.floor(xy[:, 0] + 0.5).astype(int), 0, cols - 1)
    r = np.clip(np.floor(xy[:, 1] + 0.5).astype(int), 0, rows - 1)
    stroke_map[r, c] = POSITIVE if label == 1 else NEGATIVE


def used_slices(canon_map: np.ndarray, plane: str) -> list[int]:
    """The canonical ``plane`` slices on which a canonical strokes label map has strokes."""
    axis = 2 - plane_axes(plane)[0]  # canonical array axis of the plane's slices
    canon_map = np.asarray(canon_map)
    # the canonical map is a flipped view of the input array: numpy reduces over negative strides several times
    # slower (50 ms on 512 x 512 x 300), so the flips are undone first (they do not change which slices hold
    # strokes; a flipped slice axis is mapped back)
    flips = tuple(slice(None, None, -1) if stride < 0 else slice(None) for stride in canon_map.strides)
    hit = canon_map[flips].max(axis=tuple(a for a in range(3) if a != axis)) > 0  # max: ~2x faster than any
    return [int(i) for i in np.flatnonzero(hit[flips[axis]])]


def ordered_pixels(component: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(x, y) of a stroke's pixels ordered along the stroke's main direction (its first principal axis);
    ``origin`` the (row, col) of ``component``'s first pixel on the slice (a cut-out of it)."""
    rows, cols = np.nonzero(component)
    xy = np.c_[cols + origin[1], rows + origin[0]].astype(float)
    if len(xy) < 3:
        return xy
    centred = xy - xy.mean(0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    return xy[np.argsort(centred @ axis, kind="stable")]


def map_tokens(canon_map: np.ndarray, plane: str) -> dict[int, list[tuple[float, float, int]]]:
    """A canonical strokes label map -> point tokens per canonical slice (each connected stroke of each value)."""
    out: dict[int, list[tuple[float, float, int]]] = {}
    for idx in used_slices(canon_map, plane):
        sl = extract_slice(canon_map, plane, idx)
        # read in the strokes' bounding box, each stroke in its own: no whole-slice pass per stroke
        x0, y0, x1, y1 = map(int, mask_extent(sl))
        sl = sl[y0:y1 + 1, x0:x1 + 1]
        for value, label in ((POSITIVE, 1), (NEGATIVE, 0)):
            components, _ = ndimage.label(sl == value, structure=np.ones((3, 3)))
            for c, box in enumerate(ndimage.find_objects(components), start=1):
                pixels = ordered_pixels(components[box] == c, (y0 + box[0].start, x0 + box[1].start))
                pts = spread(pixels, policy.STROKE_TOKENS)
                out.setdefault(int(idx), []).extend((float(x), float(y), label) for x, y in pts)
    return out


def polygon_mask(xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The inside of a closed polygon (vertices (x, y) in slice pixels) as a (rows, cols) bool mask."""
    from matplotlib.path import Path as PolygonPath

    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    # radius 0: matplotlib grows or shrinks a non-zero radius by the polygon's orientation
    inside = PolygonPath(np.asarray(xy, dtype=float)).contains_points(np.c_[xx.ravel(), yy.ravel()], radius=0.0)
    return inside.reshape(rows, cols)



def fenced(pixels_xy: np.ndarray, positive_xy: np.ndarray, negative_xy: np.ndarray, sectors: int = 72) -> np.ndarray:
    """Which of ``pixels_xy`` a negative stroke fences off from the outside, seen from the positive strokes' centre:
    in each of ``sectors`` directions around that centre, the pixels nearer to it than the nearest negative stroke
    pixel in that direction. A direction without a negative stroke fences nothing. All positions are (x, y)."""
    pixels_xy = np.asarray(pixels_xy, float).reshape(-1, 2)
    if len(positive_xy) == 0 or len(negative_xy) == 0:
        return np.zeros(len(pixels_xy), bool)
    centre = np.asarray(positive_xy, float).reshape(-1, 2).mean(axis=0)
    step = 2 * np.pi / sectors

    def polar(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(xy, float).reshape(-1, 2) - centre
        return ((np.arctan2(d[:, 1], d[:, 0]) + np.pi) // step).astype(int) % sectors, np.hypot(d[:, 0], d[:, 1])

    stroke_sector, stroke_dist = polar(negative_xy)
    fence = np.full(sectors, -1.0)           # per direction, the nearest negative stroke's distance (-1: none)
    order = np.argsort(-stroke_dist)         # nearest last, so it is the one kept
    fence[stroke_sector[order]] = stroke_dist[order]
    pixel_sector, pixel_dist = polar(pixels_xy)
    return pixel_dist < fence[pixel_sector]

"""Simulated strokes for training (issue 14), on model-grid masks (ScribblePrompt-style).

Strokes of several kinds, so that the model learns strokes rather than one annotator's habit: straight strokes at a
random angle through a random inside point, smooth random walks, strokes that follow the contour a few pixels
inside; widths 1-5 px; negative strokes in the neighbouring structures or the background around the target;
correction strokes in the largest error region. The benchmark's strokes (``evaluation.strokes``: straight
centre-line strokes) are one case of these, not the training distribution. With ``--annotator-stroke-share``
(session 35) a share of the samples are painted as scribble annotators paint (``annotator_style_strokes``).
"""

from __future__ import annotations

import math
import random

import numpy as np
from scipy import ndimage

from .masks import largest_error_component, max_edt_point

Path = list[tuple[int, int]]  # (row, col) pixels in order


def _inside(region: np.ndarray, inset: int) -> np.ndarray:
    inner = ndimage.binary_erosion(region, iterations=inset) if inset > 0 else region
    return inner if inner.any() else region


def _random_pixel(region: np.ndarray, rng: random.Random) -> tuple[int, int]:
    rows, cols = np.nonzero(region)
    i = rng.randrange(len(rows))
    return int(rows[i]), int(cols[i])


def straight_stroke(region: np.ndarray, start: tuple[int, int], length: float, rng: random.Random) -> Path:
    """A straight stroke through ``start`` at a random angle, as long as ``length`` allows inside ``region``."""
    a = rng.uniform(0, math.pi)
    dr, dc = math.sin(a), math.cos(a)
    path = [start]
    for sign in (1, -1):
        for t in range(1, max(1, int(length / 2)) + 1):
            r, c = int(round(start[0] + sign * t * dr)), int(round(start[1] + sign * t * dc))
            if not (0 <= r < region.shape[0] and 0 <= c < region.shape[1]) or not region[r, c]:
                break
            path.append((r, c)) if sign == 1 else path.insert(0, (r, c))
    return path


def walk_stroke(region: np.ndarray, start: tuple[int, int], length: float, rng: random.Random) -> Path:
    """A smooth random walk from ``start`` that turns back (or stops) at the edge of ``region``."""
    r, c = float(start[0]), float(start[1])
    a = rng.uniform(0, 2 * math.pi)
    path = [start]
    for _ in range(int(length)):
        for _try in range(6):
            na = a + rng.gauss(0, 0.25) + (0 if _try == 0 else rng.uniform(-math.pi, math.pi))
            nr, nc = r + math.sin(na), c + math.cos(na)
            ir, ic = int(round(nr)), int(round(nc))
            if 0 <= ir < region.shape[0] and 0 <= ic < region.shape[1] and region[ir, ic]:
                a, r, c = na, nr, nc
                if (ir, ic) != path[-1]:
                    path.append((ir, ic))
                break
        else:
            break
    return path


def contour_stroke(region: np.ndarray, length: float, rng: random.Random) -> Path:
    """A stroke along the contour of ``region`` (already inset): a greedy walk over its edge pixels."""
    edge = region & ~ndimage.binary_erosion(region)
    rows, cols = np.nonzero(edge)
    if len(rows) == 0:
        return []
    left = set(zip(rows.tolist(), cols.tolist()))
    cur = _random_pixel(edge, rng)
    path = [cur]
    left.discard(cur)
    while len(path) < length and left:
        nxt = next(((cur[0] + dr, cur[1] + dc) for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1),
                                                              (-1, 1), (-1, -1)) if (cur[0] + dr, cur[1] + dc) in left),
                   None)
        if nxt is None:
            break
        path.append(nxt)
        left.discard(nxt)
        cur = nxt
    return path


def stroke_through(region: np.ndarray, label: int, inset: int = 2, share: float = 0.6) -> tuple[Path, int] | None:
    """A straight stroke through the deepest point of a 2D region along its main axis, kept ``inset`` px inside it
    and at most ``share`` of the region's extent along that axis -> (path, label); None for an empty region.
    The stroke and scribble benchmarks' strokes, and the positive stroke of annotator-style training strokes."""
    region = np.asarray(region, bool)
    if not region.any():
        return None
    inner = ndimage.binary_erosion(region, iterations=inset)
    inner = inner if inner.any() else region
    r, c = max_edt_point(inner)
    rows, cols = np.nonzero(region)
    pts = np.c_[rows, cols].astype(float)
    axis = np.array([1.0, 0.0]) if len(pts) < 3 else np.linalg.svd(pts - pts.mean(0), full_matrices=False)[2][0]
    extent = float(np.ptp((pts - pts.mean(0)) @ axis)) * share / 2
    path = [(r, c)]
    for sign in (1, -1):
        for t in np.arange(1.0, max(1.0, extent) + 1.0):
            y, x = int(round(r + sign * t * axis[0])), int(round(c + sign * t * axis[1]))
            if not (0 <= y < region.shape[0] and 0 <= x < region.shape[1]) or not inner[y, x]:
                break
            path.append((y, x)) if sign == 1 else path.insert(0, (y, x))
    return list(dict.fromkeys(path)), label


def background_arc(target: np.ndarray, labelled: np.ndarray, rng, span: float,
                   distance: tuple[float, float]) -> np.ndarray:
    """Unlabelled pixels ``distance`` (min, max px) outside ``target`` whose direction from its centre lies in a
    random ``span`` (radians): the negative stroke an annotator paints around a structure. ``rng``: a
    ``random.Random`` or a numpy ``Generator`` (anything with ``uniform``)."""
    d = ndimage.distance_transform_edt(~target)
    rows, cols = np.nonzero((d >= distance[0]) & (d <= distance[1]) & ~labelled)
    out = np.zeros_like(target)
    if not len(rows):
        return out
    cy, cx = np.argwhere(target).mean(0)
    start = rng.uniform(-np.pi, np.pi)
    keep = np.mod(np.arctan2(rows - cy, cols - cx) - start, 2 * np.pi) < span
    out[rows[keep], cols[keep]] = True
    return out


def paint(stroke_map: np.ndarray, path: Path, radius: int) -> None:
    """Draw ``path`` into a bool map with a brush of ``radius`` px (0: one pixel wide)."""
    if not path:
        return
    line = np.zeros_like(stroke_map)
    rr, cc = zip(*path)
    line[list(rr), list(cc)] = True
    if radius > 0:
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        line = ndimage.binary_dilation(line, structure=(yy ** 2 + xx ** 2) <= radius ** 2)
    stroke_map |= line


def one_stroke(region: np.ndarray, rng: random.Random) -> Path:
    """A stroke of a random kind inside ``region``."""
    side = math.sqrt(region.sum())
    inner = _inside(region, rng.randint(0, 3))
    kind = rng.choices(("straight", "walk", "contour"), weights=(3, 3, 1))[0]
    length = rng.uniform(0.3, 1.5) * side
    if kind == "contour":
        path = contour_stroke(inner, length, rng)
        if len(path) >= 3:
            return path
    start = max_edt_point(inner) if rng.random() < 0.3 else _random_pixel(inner, rng)
    if kind == "walk":
        return walk_stroke(inner, start, length, rng)
    return straight_stroke(inner, start, length, rng)


MIN_OTHER_PX = 12       # a neighbouring structure this large (model-grid px) can get a negative stroke


def annotator_style_strokes(mask: np.ndarray, label_map: np.ndarray | None, rng: random.Random) -> np.ndarray:
    """Strokes as scribble annotators paint them (issue 14; the benchmark's ``--protocol scribbles`` is one draw of
    this kind): a positive stroke along the target's main axis through its deepest point, negative strokes along
    some neighbouring structures' axes and an arc of background hugging the target over a random span of
    directions. -> (2, S, S) bool (positive, negative)."""
    strokes = np.zeros((2, *mask.shape), bool)
    positive = stroke_through(mask, 1, inset=rng.randint(0, 2), share=rng.uniform(0.4, 0.9))
    paint(strokes[0], positive[0] if positive else [], rng.choice((0, 1, 1)))
    if label_map is not None:
        for other in np.unique(label_map):
            region = label_map == other
            # the target itself, the background, small structures and 40 % of the others get none
            if other == 0 or (region & mask).all() or region.sum() < MIN_OTHER_PX or rng.random() < 0.4:
                continue
            stroke = stroke_through(region & ~mask, 0, inset=1, share=rng.uniform(0.3, 0.8))
            line = np.zeros_like(mask)
            paint(line, stroke[0] if stroke else [], rng.choice((0, 1)))
            strokes[1] |= line & region
    if rng.random() < 0.85:
        near = rng.uniform(1.0, 4.0)
        labelled = label_map > 0 if label_map is not None else np.zeros_like(mask)
        strokes[1] |= background_arc(mask, labelled & ~mask, rng, rng.uniform(math.pi / 3, 2 * math.pi),
                                     (near, near + rng.uniform(1.0, 2.0)))
    strokes[1] &= ~mask
    strokes[0] &= mask
    return strokes


def _free_strokes(mask: np.ndarray, label_map: np.ndarray | None, rng: random.Random) -> np.ndarray:
    """1-3 positive strokes of random kinds, and in 40 % of samples 1-2 negative ones around the target."""
    strokes = np.zeros((2, *mask.shape), bool)
    for _ in range(rng.choices((1, 2, 3), weights=(6, 3, 1))[0]):
        paint(strokes[0], one_stroke(mask, rng), rng.choice((0, 1, 1, 2)))
    strokes[0] &= mask  # a brush wider than a thin structure stays inside it
    if rng.random() < 0.4:
        ring = ndimage.binary_dilation(mask, iterations=12) & ~ndimage.binary_dilation(mask, iterations=2)
        if label_map is not None and rng.random() < 0.7 and (ring & (label_map > 0)).any():
            ring &= label_map > 0
        for _ in range(rng.randint(1, 2)):
            if ring.any():
                paint(strokes[1], one_stroke(ring, rng), rng.choice((0, 1, 1, 2)))
        strokes[1] &= ~mask
    return strokes


def sample_strokes(mask: np.ndarray, label_map: np.ndarray | None, rng: random.Random,
                   annotator_share: float = 0.0) -> tuple[np.ndarray, tuple[float, float]]:
    """mask (S, S) bool, non-empty -> (strokes (2, S, S) bool: positive, negative; the first click (x, y)).

    ``annotator_share`` of the samples are annotator-style (``annotator_style_strokes``), the others free strokes
    of random kinds. The first click is the positive stroke pixel nearest the positive strokes' centre: what the
    engine sends as the prompt's point token with the strokes' map (``engine.views.answer_strokes``)."""
    # no draw when the share is 0: runs made before annotator-style strokes existed replay exactly
    annotator = annotator_share > 0 and rng.random() < annotator_share
    style = annotator_style_strokes if annotator else _free_strokes
    strokes = style(mask, label_map, rng)
    if not strokes[0].any():
        r, c = max_edt_point(mask)
        strokes[0, r, c] = True
    rows, cols = np.nonzero(strokes[0])
    i = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    return strokes, (float(cols[i]), float(rows[i]))


def correction_stroke(pred: np.ndarray, target: np.ndarray, rng: random.Random
                      ) -> tuple[tuple[float, float], int, np.ndarray] | None:
    """A stroke in the largest error region from its deepest point -> ((x, y) of that point, label, stroke
    (S, S) bool); None when the prediction is exact."""
    error = largest_error_component(pred, target)
    if error is None:
        return None
    label, comp = error
    r, c = max_edt_point(comp)
    length = rng.uniform(0.5, 1.5) * math.sqrt(comp.sum())
    path = walk_stroke(comp, (r, c), length, rng) if rng.random() < 0.5 else straight_stroke(comp, (r, c), length, rng)
    stroke = np.zeros_like(comp, dtype=bool)
    paint(stroke, path, rng.choice((0, 1, 1)))
    return (float(c), float(r)), label, stroke & comp

"""Classical interactive baselines, driven by exactly the prompts the benchmark gives MedP-CLIP.

Two peers a Slicer user has today, each turning the simulated clicks / boxes into its own seeds:

GrowCut (3D Slicer's "Grow from seeds" effect; the same FastGrowCut filter, from PyPI ``itk-growcut``)
    Seed labels: 0 = unlabelled, 1 = foreground, 2 = background; ``distance_penalty`` 0 (Slicer's default
    "seed locality" 0). Every interaction re-runs the filter on all seeds so far (what the effect's preview shows).

    - a click is a disc of radius ``SEED_RADIUS`` px on its slice (a small paint-brush stroke): positive -> 1,
      negative -> 2; later clicks paint over earlier ones;
    - with clicks only, the background is a 1-px ring just outside the slice (the image is padded by ``PAD`` px
      with its minimum and the ring drawn in that padding): the user's "everything else" segment;
    - a box: foreground = an ellipse at the box centre spanning the central third of the box in each in-plane
      direction (semi-axes = box size / 6, at least 1 px; in 3D on the prompted (middle) slice only); background =
      the box outline, a 1-voxel shell just outside the box. In 3D that shell covers the four side faces; top and
      bottom are enforced by clipping instead (the benchmark's 3D box is cut to the held-out slab, so its top and
      bottom faces can pass through the structure, where background seeds would be wrong). The filter runs on the
      box plus ``PAD`` voxels of real image around it and the result is clipped to the box.

    ITK's FastGrowCut never grows from the outermost voxel layer of its input and needs at least 3 voxels along
    every axis: hence the padding, and 2D slices are run as 3 identical stacked copies with the same seeds on each
    (a 3D path through identical copies costs what its in-plane projection costs, so the middle copy is the 2D
    answer).

Region growing (SimpleITK ``ConfidenceConnected``)
    Grows from the positive clicks (and, with a box, the box centre) over the connected pixels whose intensity lies
    within ``MULTIPLIER`` standard deviations of the mean of the seeds' ``NEIGHBORHOOD``-px neighbourhoods, the
    statistics re-estimated ``ITERATIONS`` times on the grown region. Negative clicks cut: a grown pixel is dropped
    when it is nearer (in mm in 3D) to a negative click than to every positive seed (a Voronoi split between the
    clicks), then only the parts connected to a positive seed are kept. With a box, the growth is clipped to it.

Conventions: 2D arrays are canonical axial slices [row, col]; 2D clicks are (row, col, label); a 2D box is
(x0, y0, x1, y1) in inclusive pixels (x = col). 3D arrays are [k, row, col]; 3D clicks are (k, row, col, label);
a 3D box is (x0, y0, k0, x1, y1, k1), inclusive.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

SEED_RADIUS = 2        # px: a click paints a disc 5 px across
PAD = 2                # px of padding around the region the filters see (FastGrowCut skips the outer layer)
MULTIPLIER = 2.5       # ConfidenceConnected: intensity window in standard deviations (ITK's default)
ITERATIONS = 2         # ConfidenceConnected: re-estimations of the statistics on the grown region
NEIGHBORHOOD = 2       # ConfidenceConnected: radius (px) of the initial neighbourhood around each seed

FG, BG = 1, 2

Click2D = tuple[int, int, int]
Click3D = tuple[int, int, int, int]


# -- shared geometry ------------------------------------------------------------------------------------------
def _window(image: np.ndarray, lo: Sequence[int], hi: Sequence[int], pad: int = PAD) -> tuple[np.ndarray, np.ndarray]:
    """``image[lo - pad : hi + pad + 1]`` per axis, padded with the image minimum where it leaves the image.

    Returns (crop, origin) with origin = the image index of crop[0, 0, ...] (may be negative)."""
    lo = np.asarray(lo, int) - pad
    hi = np.asarray(hi, int) + pad
    shape = np.asarray(image.shape)
    src_lo, src_hi = np.maximum(lo, 0), np.minimum(hi, shape - 1)
    crop = np.full(tuple(hi - lo + 1), float(image.min()), dtype=np.float32)
    dst = tuple(slice(a - o, b - o + 1) for a, b, o in zip(src_lo, src_hi, lo))
    crop[dst] = image[tuple(slice(a, b + 1) for a, b in zip(src_lo, src_hi))]
    return crop, lo


def _ring(shape: tuple[int, ...], axes: Sequence[int]) -> np.ndarray:
    """Bool mask of the 1-voxel shell at index 1 / n-2 along ``axes`` (the layer just inside the outer one),
    restricted to [1, n-2] on those axes."""
    inner = np.zeros(shape, bool)
    core = [slice(None)] * len(shape)
    for a in axes:
        core[a] = slice(1, shape[a] - 1)
    inner[tuple(core)] = True
    deeper = np.zeros(shape, bool)
    for a in axes:
        core[a] = slice(2, shape[a] - 2)
    deeper[tuple(core)] = True
    return inner & ~deeper


def _disc(shape2d: tuple[int, int], row: float, col: float, radius: float) -> np.ndarray:
    rr, cc = np.ogrid[: shape2d[0], : shape2d[1]]
    return (rr - row) ** 2 + (cc - col) ** 2 <= radius ** 2 + 1e-6


def _ellipse(shape2d: tuple[int, int], row: float, col: float, ry: float, rx: float) -> np.ndarray:
    rr, cc = np.ogrid[: shape2d[0], : shape2d[1]]
    return ((rr - row) / ry) ** 2 + ((cc - col) / rx) ** 2 <= 1.0 + 1e-6


def box_core(box2d: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """(row, col, semi-axis rows, semi-axis cols) of the inside seed of a box: the central third."""
    x0, y0, x1, y1 = box2d
    return (y0 + y1) / 2, (x0 + x1) / 2, max(1.0, (y1 - y0 + 1) / 6), max(1.0, (x1 - x0 + 1) / 6)


# -- GrowCut --------------------------------------------------------------------------------------------------
def growcut_seeds_2d(shape: tuple[int, int], points: Sequence[Click2D], box: tuple | None = None,
                     radius: float = SEED_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Seeds for one slice of ``shape``: (seed image over the padded window, window origin [row, col]).

    The window is the slice (clicks only) or the box, plus ``PAD`` px on each side."""
    lo, hi = ((0, 0), (shape[0] - 1, shape[1] - 1)) if box is None else ((box[1], box[0]), (box[3], box[2]))
    wshape = tuple(int(h - l + 1 + 2 * PAD) for l, h in zip(lo, hi))
    origin = np.asarray(lo, int) - PAD
    seeds = np.zeros(wshape, np.uint8)
    seeds[_ring(wshape, (0, 1))] = BG                      # background ring / box outline
    if box is not None:
        r, c, ry, rx = box_core(box)
        seeds[_ellipse(wshape, r - origin[0], c - origin[1], ry, rx)] = FG
    for r, c, lab in points:
        seeds[_disc(wshape, r - origin[0], c - origin[1], radius)] = FG if lab == 1 else BG
    return seeds, origin


def _fast_grow_cut(image3d: np.ndarray, seeds3d: np.ndarray) -> np.ndarray:
    import itk

    out = itk.fast_grow_cut(itk.image_from_array(np.ascontiguousarray(image3d, dtype=np.float32)),
                            seed_image=itk.image_from_array(np.ascontiguousarray(seeds3d, dtype=np.uint8)),
                            distance_penalty=0.0)
    return itk.array_from_image(out)


def growcut_2d(image2d: np.ndarray, points: Sequence[Click2D], box: tuple | None = None,
               radius: float = SEED_RADIUS) -> np.ndarray:
    """GrowCut on one slice from clicks (row, col, label) and / or a box -> bool mask of the slice."""
    image2d = np.asarray(image2d, np.float32)
    seeds, origin = growcut_seeds_2d(image2d.shape, points, box, radius)
    return _grow_cut_window_2d(image2d, seeds, origin)


def _grow_cut_window_2d(image2d: np.ndarray, seeds: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """FastGrowCut over a padded seed window of one slice (``growcut_seeds_2d``'s output) -> bool mask of the slice."""
    lo = origin + PAD
    hi = lo + np.asarray(seeds.shape) - 2 * PAD - 1
    crop, _ = _window(image2d, lo, hi)
    labels = _fast_grow_cut(np.repeat(crop[None], 3, 0), np.repeat(seeds[None], 3, 0))[1]
    return _paste(labels == FG, origin, image2d.shape)


def growcut_2d_strokes(image2d: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """GrowCut on one slice from a strokes map (1 positive, 2 negative stroke; every stroke pixel is a seed, the
    ring just outside the slice background, as with clicks) -> bool mask of the slice."""
    image2d = np.asarray(image2d, np.float32)
    seeds, origin = growcut_seeds_2d(image2d.shape, [])           # the slice's window, its outer ring background
    inner = seeds[PAD:PAD + image2d.shape[0], PAD:PAD + image2d.shape[1]]
    inner[strokes == 1] = FG
    inner[strokes == 2] = BG
    return _grow_cut_window_2d(image2d, seeds, origin)


def growcut_seeds_3d(shape: tuple[int, int, int], box3d: tuple, mid: int, points: Sequence[Click3D] = (),
                     radius: float = SEED_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Seeds for a 3D box prompt (+ clicks): (seed image over the box + PAD window, window origin [k, row, col])."""
    x0, y0, k0, x1, y1, k1 = box3d
    wshape = (k1 - k0 + 1 + 2 * PAD, y1 - y0 + 1 + 2 * PAD, x1 - x0 + 1 + 2 * PAD)
    origin = np.array([k0, y0, x0]) - PAD
    seeds = np.zeros(wshape, np.uint8)
    seeds[_ring(wshape, (1, 2))] = BG                      # the box's four side faces, one voxel outside it
    r, c, ry, rx = box_core((x0, y0, x1, y1))
    seeds[mid - origin[0]][_ellipse(wshape[1:], r - origin[1], c - origin[2], ry, rx)] = FG
    for k, r, c, lab in points:
        kk = k - origin[0]
        if 0 <= kk < wshape[0]:
            seeds[kk][_disc(wshape[1:], r - origin[1], c - origin[2], radius)] = FG if lab == 1 else BG
    return seeds, origin


def growcut_3d(image3d: np.ndarray, box3d: tuple, mid: int, points: Sequence[Click3D] = (),
               radius: float = SEED_RADIUS) -> np.ndarray:
    """GrowCut in 3D from a box prompted on slice ``mid`` plus clicks -> bool mask of the volume (inside the box)."""
    image3d = np.asarray(image3d, np.float32)
    seeds, origin = growcut_seeds_3d(image3d.shape, box3d, mid, points, radius)
    crop, _ = _window(image3d, origin + PAD, origin + np.asarray(seeds.shape) - PAD - 1)
    labels = _fast_grow_cut(crop, seeds)
    return _paste(labels == FG, origin, image3d.shape)


def _paste(window_mask: np.ndarray, origin: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Put the inner part (without PAD) of a window mask back into a full-size bool array."""
    inner = tuple(slice(PAD, s - PAD) for s in window_mask.shape)
    out = np.zeros(shape, bool)
    lo = origin + PAD
    out[tuple(slice(a, a + s - 2 * PAD) for a, s in zip(lo, window_mask.shape))] = window_mask[inner]
    return out


# -- region growing -------------------------------------------------------------------------------------------
def _confidence_connected(image: np.ndarray, seeds: list[tuple[int, ...]]) -> np.ndarray:
    """seeds as array indices; returns the grown bool mask (same shape as ``image``)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))
    size = image.shape
    sitk_seeds = [tuple(int(v) for v in reversed(s)) for s in seeds
                  if all(0 <= v < n for v, n in zip(s, size))]
    if not sitk_seeds:
        return np.zeros(size, bool)
    out = sitk.ConfidenceConnected(img, seedList=sitk_seeds, numberOfIterations=ITERATIONS, multiplier=MULTIPLIER,
                                   initialNeighborhoodRadius=NEIGHBORHOOD, replaceValue=1)
    return sitk.GetArrayFromImage(out) > 0


def _cut_and_keep(grown: np.ndarray, pos: list[tuple[int, ...]], neg: list[tuple[int, ...]],
                  spacing: Sequence[float] | None = None) -> np.ndarray:
    """Drop grown voxels nearer to a negative click than to any positive seed; keep parts touching a positive seed."""
    if not grown.any() or not pos:
        return np.zeros_like(grown)
    sampling = None if spacing is None else tuple(float(s) for s in spacing)
    if neg:
        def dist_to(points):
            src = np.ones(grown.shape, bool)
            for p in points:
                src[tuple(p)] = False
            return ndimage.distance_transform_edt(src, sampling=sampling)

        grown = grown & (dist_to(pos) <= dist_to(neg))
    lab, n = ndimage.label(grown)
    if n == 0:
        return grown
    keep = {int(lab[tuple(p)]) for p in pos} - {0}
    return np.isin(lab, list(keep)) if keep else np.zeros_like(grown)


def region_grow_2d(image2d: np.ndarray, points: Sequence[Click2D], box: tuple | None = None) -> np.ndarray:
    """ConfidenceConnected region growing on one slice from clicks (row, col, label) and / or a box."""
    image2d = np.asarray(image2d, np.float32)
    pos = [(int(r), int(c)) for r, c, lab in points if lab == 1]
    neg = [(int(r), int(c)) for r, c, lab in points if lab != 1]
    if box is not None:
        x0, y0, x1, y1 = box
        pos = [(int(round((y0 + y1) / 2)), int(round((x0 + x1) / 2)))] + pos
    grown = _confidence_connected(image2d, pos)
    if box is not None:
        clip = np.zeros_like(grown)
        clip[box[1]:box[3] + 1, box[0]:box[2] + 1] = True
        grown &= clip
    return _cut_and_keep(grown, pos, neg)


def region_grow_3d(image3d: np.ndarray, box3d: tuple, mid: int, points: Sequence[Click3D] = (),
                   spacing: Sequence[float] | None = None) -> np.ndarray:
    """ConfidenceConnected in 3D from the box centre on slice ``mid`` plus clicks; clipped to the box.
    ``spacing`` is in array-axis order (k, row, col), used for the negative-click cut."""
    image3d = np.asarray(image3d, np.float32)
    x0, y0, k0, x1, y1, k1 = box3d
    pos = [(int(mid), int(round((y0 + y1) / 2)), int(round((x0 + x1) / 2)))]
    pos += [(int(k), int(r), int(c)) for k, r, c, lab in points if lab == 1]
    neg = [(int(k), int(r), int(c)) for k, r, c, lab in points if lab != 1]
    grown = _confidence_connected(image3d, pos)
    clip = np.zeros_like(grown)
    clip[k0:k1 + 1, y0:y1 + 1, x0:x1 + 1] = True
    return _cut_and_keep(grown & clip, pos, neg, spacing)

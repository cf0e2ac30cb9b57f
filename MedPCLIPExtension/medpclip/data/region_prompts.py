"""Region -> prompt sampling for training (DESIGN.md section 5), on model-grid masks.

Every sampled prompt is consistent with its mask: boxes contain it (before a small jitter that only
grows them), positive points lie inside it, negative points outside it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .masks import max_edt_point, tight_box

PROMPT_KINDS = ("point", "points", "box", "box_point", "mask")


@dataclass
class SampledPrompt:
    kind: str
    points: list[tuple[float, float]] = field(default_factory=list)   # (x, y) model pixels
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    region_mask: np.ndarray | None = None                              # jittered binary mask prompt


def _random_inside(mask: np.ndarray, rng: random.Random) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    i = rng.randrange(len(ys))
    return float(xs[i]), float(ys[i])


def nearest_inside(mask: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """The pixel of a non-empty ``mask`` nearest (x, y), as (x, y)."""
    ys, xs = np.nonzero(mask)
    i = int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))
    return float(xs[i]), float(ys[i])


def jitter_mask(mask: np.ndarray, rng: random.Random) -> np.ndarray:
    """Erode or dilate by 0-2 px (kept non-empty) to mimic a rough user sketch."""
    steps = rng.randint(-2, 2)
    if steps > 0:
        return ndimage.binary_dilation(mask, iterations=steps)
    if steps < 0:
        eroded = ndimage.binary_erosion(mask, iterations=-steps)
        return eroded if eroded.sum() >= 4 else mask
    return mask


def negative_points(mask: np.ndarray, label_map: np.ndarray | None, rng: random.Random, n: int) -> list[tuple[float, float]]:
    """Negatives from neighbouring structures (a ring around the mask), else from the nearby background."""
    ring = ndimage.binary_dilation(mask, iterations=8) & ~ndimage.binary_dilation(mask, iterations=1)
    if label_map is not None:
        neighbours = ring & (label_map > 0)
        if neighbours.any() and rng.random() < 0.7:
            ring = neighbours
    if not ring.any():
        return []
    return [_random_inside(ring, rng) for _ in range(n)]


def sample_prompt(mask: np.ndarray, label_map: np.ndarray | None, rng: random.Random,
                  kind: str | None = None, max_box_jitter: float = 5.0) -> SampledPrompt:
    """mask (S, S) bool, non-empty -> a prompt of a random (or given) kind."""
    kind = kind or rng.choices(PROMPT_KINDS, weights=(3, 2, 2, 1, 2))[0]
    out = SampledPrompt(kind)
    if kind in ("point", "points", "box_point"):
        n_pos = 1 if kind != "points" else rng.randint(2, 3)
        for n in range(n_pos):
            if n == 0 and rng.random() < 0.5:
                r, c = max_edt_point(mask)
                out.points.append((float(c), float(r)))
            else:
                out.points.append(_random_inside(mask, rng))
            out.labels.append(1)
        if kind == "points":
            negs = negative_points(mask, label_map, rng, rng.randint(0, 2))
            out.points += negs
            out.labels += [0] * len(negs)
    if kind in ("box", "box_point"):
        x0, y0, x1, y1 = tight_box(mask)
        j = lambda: rng.uniform(0, max_box_jitter)  # noqa: E731 - only grows the box
        out.box = (max(0.0, x0 - j()), max(0.0, y0 - j()), x1 + j(), y1 + j())
    if kind == "mask":
        out.region_mask = jitter_mask(mask, rng)
    return out

"""The scribble protocol (issue 14): simulated strokes, the same strokes for MedP-CLIP and GrowCut.

First stroke: a straight stroke through the structure's deepest point along its main axis, kept 2 px inside it and
at most 60 % of its length (a hurried annotator's centre-line stroke). Each next stroke: the same rule on the
largest error component (positive where the answer missed, negative where it spilled). MedP-CLIP gets the strokes
so far as ``scribbles`` polylines; GrowCut ("Grow from seeds") gets every stroke pixel as a seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data.masks import dice, largest_error_component
from ..data.stroke_sim import stroke_through
from .baselines import growcut_2d

Stroke = tuple[list[tuple[int, int]], int]     # ([(row, col), ...], label)


def correction_stroke(pred: np.ndarray, target: np.ndarray) -> Stroke | None:
    """A stroke in the largest error component: positive where the answer missed, negative where it spilled."""
    error = largest_error_component(pred, target)
    if error is None:
        return None
    label, comp = error
    return stroke_through(comp, label, inset=1)


@dataclass
class StrokeTrial:
    dice: list[float]
    ms: list[float]


def simulate_strokes(predict: Callable[[list[Stroke]], np.ndarray], target: np.ndarray, n: int) -> StrokeTrial:
    """Up to ``n`` strokes: ``predict(strokes so far)`` -> 2D mask; stops early when the answer is exact."""
    strokes: list[Stroke] = [stroke_through(target, 1)]
    dices, ms = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        pred = predict(strokes)
        ms.append((time.perf_counter() - t0) * 1000)
        dices.append(dice(pred, target))
        nxt = correction_stroke(pred, target)
        if nxt is None:
            break
        strokes.append(nxt)
    return StrokeTrial(dices, ms)


def run_medpclip(session, canon_idx: int, target: np.ndarray, n: int) -> StrokeTrial:
    """Strokes on canonical axial slice ``canon_idx`` (``target`` its 2D reference), sent as scribbles in ijk."""
    geometry = session.geometry

    def predict(strokes: list[Stroke]) -> np.ndarray:
        prompt = {"space": "ijk", "mode": "2d", "scribbles": [
            {"points": geometry.to_input_ijk(np.array([[c, r, canon_idx] for r, c in path], float)).tolist(),
             "label": label} for path, label in strokes]}
        res = session.segment(prompt, feedback=False)
        return np.asarray(session.orient.array_to_canonical(res.mask))[canon_idx] > 0

    return simulate_strokes(predict, target, n)


def run_growcut(image2d: np.ndarray, target: np.ndarray, n: int) -> StrokeTrial:
    """The same strokes as GrowCut seeds (every stroke pixel, 1 px discs)."""
    return simulate_strokes(lambda strokes: growcut_2d(image2d, [(r, c, label) for path, label in strokes
                                                                 for r, c in path], radius=1), target, n)


def dice_at(trials: list[StrokeTrial], k: int) -> float:
    """Mean Dice after k strokes (a trial that reached the reference keeps its last Dice)."""
    return float(np.mean([t.dice[min(k, len(t.dice)) - 1] for t in trials])) if trials else float("nan")

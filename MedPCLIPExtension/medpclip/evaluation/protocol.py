"""The simulated user (DESIGN.md section 8): deterministic first prompts and the method-agnostic click loop.

2D, on one target: first prompt = one click at the max-EDT point (or the tight box), then correction clicks at the
max-EDT point of the largest error component of the method's own previous result. Every harness (``medpclip
benchmark``, its patient-level mode, ``medpclip evaluate``) runs its methods through ``simulate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data.masks import correction_click, dice, iou, max_edt_point, tight_box

REPORT_CLICKS = (1, 3, 5, 9)            # Dice@k reported after these interactions
NOC_CAP = 20                            # NoC when the IoU threshold is never reached

Click = tuple[int, int, int]            # (row, col, label) on a canonical axial slice; label 1 = positive
Box = tuple[int, int, int, int]         # (x0, y0, x1, y1), inclusive pixels of a canonical axial slice
Predictor = Callable[[list[Click], "Box | None"], np.ndarray]


@dataclass
class Simulation:
    """What one simulated user session produced: metrics after each interaction, the prompts, the last mask."""

    dice: list[float]
    iou: list[float]
    points: list[Click]
    box: Box | None
    last: np.ndarray                    # the mask after the last interaction
    at_clicks: np.ndarray | None = None  # the mask after interaction ``clicks`` (or the last, if it stopped sooner)


def first_prompt(target2d: np.ndarray, first: str) -> tuple[list[Click], Box | None]:
    """The deterministic first prompt: one positive click at the max-EDT point, or the tight box."""
    if first == "box":
        return [], tight_box(target2d)
    if first != "click":
        raise ValueError(f"unknown first prompt {first!r}; use click or box")
    r, c = max_edt_point(target2d)
    return [(int(r), int(c), 1)], None


def simulate(predict: Predictor, target2d: np.ndarray, clicks: int, first: str, noc_max: int = 0,
             noc_threshold: float = 0.90) -> Simulation:
    """Method-agnostic click loop on one 2D target (DESIGN.md section 8).

    ``predict(points, box)`` gets every prompt so far (first prompt, then correction clicks) and returns the 2D
    mask; a method that feeds its previous result back keeps that state itself. ``clicks`` interactions are always
    recorded (padded with the last value once the result is perfect); when ``noc_max`` > ``clicks``, the loop goes
    on until the IoU reaches ``noc_threshold`` or ``noc_max`` interactions, so NoC is measured, not extrapolated.
    """
    target2d = np.asarray(target2d, bool)
    points, box = first_prompt(target2d, first)
    limit = max(clicks, noc_max)
    dices: list[float] = []
    ious: list[float] = []
    pred = at_clicks = np.zeros_like(target2d)
    for n in range(limit):
        pred = np.asarray(predict(list(points), box), bool)
        if n < clicks:
            at_clicks = pred
        dices.append(dice(pred, target2d))
        ious.append(iou(pred, target2d))
        if n + 1 >= clicks and ious[-1] >= noc_threshold:
            break
        nxt = correction_click(pred, target2d)
        if nxt is None:  # perfect: the remaining clicks keep the same result
            pad = max(0, clicks - n - 1)
            dices += [dices[-1]] * pad
            ious += [ious[-1]] * pad
            break
        if n + 1 == limit:
            break
        (r, c), lab = nxt
        points.append((int(r), int(c), int(lab)))
    return Simulation(dices, ious, points, box, pred, at_clicks)

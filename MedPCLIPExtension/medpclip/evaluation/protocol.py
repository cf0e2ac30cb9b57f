"""Interactive evaluation on held-out slices (DESIGN.md section 8), through the engine like a user.

2D, per (case, held-out slice, structure >= min_pixels): first prompt = one click at the max-EDT point
(or the tight box), then correction clicks at the max-EDT point of the largest error component, previous
logits fed back. Recognition: the structure's mask on that slice as the prompt, ranked among the case's
own label names (and among the whole built-in vocabulary).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..data.cases import Case, load_case
from ..data.datalist import load_cases
from ..data.geometry import extract_slice, insert_slice
from ..data.holdout import DEFAULT_FRACTION, eval_slices
from ..engine.session import Engine, Session
from ..data.masks import correction_click, dice, iou, max_edt_point, noc, tight_box

log = logging.getLogger(__name__)
REPORT_CLICKS = (1, 3, 5, 9)


@dataclass
class Trial:
    case: str
    modality: str
    structure: str
    slice: int
    pixels: int
    first: str                      # "click" | "box"
    dice: list[float] = field(default_factory=list)   # after click 1..N
    iou: list[float] = field(default_factory=list)
    top1: bool | None = None
    top5: bool | None = None
    top1_all: bool | None = None


def _canon_to_input_point(session: Session, x: float, y: float, idx: int) -> list[float]:
    """Canonical axial slice pixel -> input ijk (so prompts go through the public contract)."""
    ijk = session.orient.index_matrix() @ np.array([x, y, idx, 1.0])
    return ijk[:3].tolist()


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


def engine_predictor(session: Session, idx: int, latencies: list[dict] | None = None) -> Predictor:
    """A ``Predictor`` for canonical axial slice ``idx`` through ``session.segment`` (the public prompt contract,
    input ijk, previous logits fed back by the engine). Forgets any earlier object on that slice first."""
    session.forget_feedback("axial", idx)  # a new object on this slice: no stale feedback

    def predict(points: list[Click], box: Box | None) -> np.ndarray:
        prompt: dict[str, Any] = {"space": "ijk", "points": [_canon_to_input_point(session, c, r, idx) for r, c, _ in points],
                                  "point_labels": [lab for _, _, lab in points], "mode": "2d",
                                  "slice": session.input_slice_index("axial", idx)}
        if box is not None:
            x0, y0, x1, y1 = box
            prompt["box"] = _canon_to_input_point(session, x0, y0, idx) + _canon_to_input_point(session, x1, y1, idx)
        res = session.segment(prompt)
        if latencies is not None:
            latencies.append(res.latency_ms)
        canon = session.orient.array_to_canonical(res.mask)
        return extract_slice(canon, "axial", idx) > 0

    return predict


def run_trial(session: Session, idx: int, target2d: np.ndarray, clicks: int, first: str) -> tuple[list[float], list[float]]:
    """One interactive trial on canonical axial slice ``idx``; returns Dice and IoU after each interaction."""
    sim = simulate(engine_predictor(session, idx), target2d, clicks, first)
    return sim.dice, sim.iou


def evaluate_case(engine: Engine, case: Case, clicks: int = 9, min_pixels: int = 20, first_prompts=("click", "box"),
                  holdout_fraction: float = DEFAULT_FRACTION, recognition: bool = True,
                  progress: Callable[[], None] | None = None) -> list[Trial]:
    session = engine.open(case.image)
    names = [case.spec.labels[v] for v in case.concepts]
    trials = []
    for idx in eval_slices(case.canon_label, holdout_fraction):
        lab2d = extract_slice(case.canon_label, "axial", idx)
        for value, concept in case.concepts.items():
            target = lab2d == value
            px = int(target.sum())
            if px < min_pixels:
                continue
            rec = {}
            if recognition:
                vol_mask = np.zeros(case.canon_label.shape, bool)
                insert_slice(vol_mask, "axial", idx, target)
                region = session.region_embedding(mask=session.to_input(vol_mask))
                ranked = engine.rank(region, names, 5, case.modality)
                ranked_all = engine.rank(region, None, 1, case.modality)
                rec = {"top1": ranked[0]["id"] == concept.id, "top5": any(r["id"] == concept.id for r in ranked),
                       "top1_all": ranked_all[0]["id"] == concept.id}
            for first in first_prompts:
                d, i = run_trial(session, idx, target, clicks, first)
                trials.append(Trial(case.spec.name, case.modality, concept.id, session.input_slice_index("axial", idx),
                                    px, first, d, i, **rec))
                if progress:
                    progress()
    session.close()
    return trials


def summarise(trials: list[Trial], first: str = "click", min_pixels: int = 0) -> dict[str, Any]:
    sel = [t for t in trials if t.first == first and t.pixels >= min_pixels]
    if not sel:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(sel)}
    for k in REPORT_CLICKS:
        vals = [t.dice[min(k, len(t.dice)) - 1] for t in sel]
        out[f"dice@{k}"] = round(float(np.mean(vals)), 4)
    out["noc85"] = round(float(np.mean([noc(t.iou, 0.85) for t in sel])), 2)
    out["noc90"] = round(float(np.mean([noc(t.iou, 0.90) for t in sel])), 2)
    rec = [t for t in sel if t.top1 is not None]
    if rec:
        out["top1"] = round(float(np.mean([t.top1 for t in rec])), 4)
        out["top5"] = round(float(np.mean([t.top5 for t in rec])), 4)
        out["top1_all_vocabulary"] = round(float(np.mean([t.top1_all for t in rec])), 4)
    return out


def evaluate(engine: Engine, data: str, clicks: int = 9, min_pixels: int = 20, first_prompts=("click", "box"),
             holdout_fraction: float = DEFAULT_FRACTION, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    cases = [load_case(s) for s in load_cases(data)]
    bar = tqdm(desc="evaluate", unit="trial", disable=not progress)
    trials: list[Trial] = []
    for case in cases:
        trials += evaluate_case(engine, case, clicks, min_pixels, first_prompts, holdout_fraction, progress=bar.update)
    bar.close()
    report: dict[str, Any] = {"protocol": {"clicks": clicks, "min_pixels": min_pixels, "holdout_fraction": holdout_fraction,
                                           "first_prompts": list(first_prompts)}}
    for first in first_prompts:
        report[first] = {"all": summarise(trials, first), ">=200px": summarise(trials, first, 200)}
        for mod in sorted({t.modality for t in trials}):
            sub = [t for t in trials if t.modality == mod]
            report[first][f"{mod} >=200px"] = summarise(sub, first, 200)
        for case in cases:
            sub = [t for t in trials if t.case == case.spec.name]
            report[first][f"case {case.spec.name}"] = summarise(sub, first, 0)
    report["per_structure"] = [t.__dict__ for t in trials]
    return report

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
from .clicks import correction_click, dice, iou, max_edt_point, noc, tight_box

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


def run_trial(session: Session, idx: int, target2d: np.ndarray, clicks: int, first: str) -> tuple[list[float], list[float]]:
    """One interactive trial on canonical axial slice ``idx``; returns Dice and IoU after each interaction."""
    points: list[list[float]] = []
    labels: list[int] = []
    box = None
    if first == "box":
        x0, y0, x1, y1 = tight_box(target2d)
        a, b = _canon_to_input_point(session, x0, y0, idx), _canon_to_input_point(session, x1, y1, idx)
        box = a + b
    else:
        r, c = max_edt_point(target2d)
        points.append(_canon_to_input_point(session, c, r, idx))
        labels.append(1)
    dices, ious = [], []
    session._history.pop(("axial", idx), None)  # a new object on this slice: no stale feedback
    for n in range(clicks):
        prompt = {"space": "ijk", "points": points, "point_labels": labels, "mode": "2d",
                  "slice": session.input_slice_index("axial", idx)}
        if box is not None:
            prompt["box"] = box
        res = session.segment(prompt)
        canon = session.orient.array_to_canonical(res.mask)
        pred = extract_slice(canon, "axial", idx) > 0
        dices.append(dice(pred, target2d))
        ious.append(iou(pred, target2d))
        nxt = correction_click(pred, target2d)
        if nxt is None:  # perfect: the remaining clicks keep the same result
            dices += [dices[-1]] * (clicks - n - 1)
            ious += [ious[-1]] * (clicks - n - 1)
            break
        (r, c), lab = nxt
        points.append(_canon_to_input_point(session, c, r, idx))
        labels.append(lab)
    return dices, ious


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

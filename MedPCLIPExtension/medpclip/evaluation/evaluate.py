"""``medpclip evaluate``: MedP-CLIP alone on held-out slices, through the benchmark's 2D protocol.

The same cases (``items.load_specs``), items (``items.items_2d`` on ``eval_slices``), runner (``MedPCLIPRunner``:
the engine like a user, input ijk) and click loop (``runners.item_trials`` -> ``protocol.simulate``) as ``medpclip
benchmark``, with this preset: MedP-CLIP only, no NoC extension past ``clicks`` (NoC counts within ``clicks``, 20 if
not reached), no 3D protocol, recognition by the mask prompt only (among the case's own label names and the whole
built-in vocabulary), every held-out slice. Its report keeps its own shape and summary (``summarise``): means of
the unrounded per-trial values, per first prompt, size, modality and case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..data.cases import Case, load_case
from ..data.holdout import DEFAULT_FRACTION, eval_slices
from ..data.masks import noc
from .items import input_slice, items_2d, load_specs
from .protocol import NOC_CAP, REPORT_CLICKS
from .runners import MedPCLIPRunner, item_trials

if TYPE_CHECKING:
    from ..engine.session import Engine


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


def evaluate_case(runner: MedPCLIPRunner, case: Case, clicks: int = 9, min_pixels: int = 20,
                  first_prompts: Sequence[str] = ("click", "box"), holdout_fraction: float = DEFAULT_FRACTION,
                  progress: Callable[[], Any] | None = None) -> list[Trial]:
    """Every (held-out slice, structure >= ``min_pixels`` px) of ``case``: mask recognition, then one trial per
    first prompt."""
    runner.open(case)
    names = [case.spec.labels[v] for v in case.concepts]
    items = items_2d(case, eval_slices(case.canon_label, holdout_fraction), min_pixels)
    trials = []
    for t in item_trials(runner, case, items, first_prompts, clicks, names=names, prompts=("mask",)):
        rec = t.recognition
        trials.append(Trial(case.spec.name, case.modality, t.item.concept.id, input_slice(case, t.item.idx),
                            t.item.pixels, t.first, t.sim.dice, t.sim.iou, rec["top1"], rec["top5"],
                            rec["top1_all_vocabulary"]))
        if progress:
            progress()
    runner.close()
    return trials


def summarise(trials: list[Trial], first: str = "click", min_pixels: int = 0) -> dict[str, Any]:
    """Unlike ``summaries.summarise_2d`` (the benchmark's), Dice@k past the simulated clicks is the last value,
    not None: the report's numbers stay those of the earlier ``medpclip evaluate`` reports."""
    sel = [t for t in trials if t.first == first and t.pixels >= min_pixels]
    if not sel:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(sel)}
    for k in REPORT_CLICKS:
        vals = [t.dice[min(k, len(t.dice)) - 1] for t in sel]
        out[f"dice@{k}"] = round(float(np.mean(vals)), 4)
    out["noc85"] = round(float(np.mean([noc(t.iou, 0.85, NOC_CAP) for t in sel])), 2)
    out["noc90"] = round(float(np.mean([noc(t.iou, 0.90, NOC_CAP) for t in sel])), 2)
    rec = [t for t in sel if t.top1 is not None]
    if rec:
        out["top1"] = round(float(np.mean([t.top1 for t in rec])), 4)
        out["top5"] = round(float(np.mean([t.top5 for t in rec])), 4)
        out["top1_all_vocabulary"] = round(float(np.mean([t.top1_all for t in rec])), 4)
    return out


def evaluate(engine: Engine, data: str, clicks: int = 9, min_pixels: int = 20,
             first_prompts: Sequence[str] = ("click", "box"), holdout_fraction: float = DEFAULT_FRACTION,
             progress: bool = True) -> dict[str, Any]:
    """The report: the protocol, per first prompt the summaries (all, >= 200 px, per modality >= 200 px, per
    case), and every trial (``per_structure``)."""
    from tqdm import tqdm

    cases = [load_case(s) for s in load_specs(data)]
    runner = MedPCLIPRunner(engine)
    bar = tqdm(desc="evaluate", unit="trial", disable=not progress)
    trials: list[Trial] = []
    for case in cases:
        trials += evaluate_case(runner, case, clicks, min_pixels, first_prompts, holdout_fraction, progress=bar.update)
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

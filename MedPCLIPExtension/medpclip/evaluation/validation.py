"""Checking fine-tuned weights before they are served (MONAI Label's ``medpclip_finetune``).

A fine-tune on a few of a team's own labelled images can make the model worse on their next images: measured on
held-out BTCV patients (docs/RESULTS.md, session 45), 200 steps on three patients lowered the click Dice of the two
others by 0.03-0.04 and naming Top-1 by 0.19. So the trainer holds some labelled images back, scores the served
weights and the new ones on them with the benchmark's click protocol and naming, and publishes the new weights only
when they are not worse.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.cases import load_case
from ..data.datalist import CaseSpec
from .items import case_items
from .runners import MedPCLIPRunner, item_trials

CLICKS = 3                  # Dice after the first click and after two correction clicks
MAX_SLICES_PER_IMAGE = 4    # evenly spaced labelled slices of each held-back image ...
MAX_ITEMS_PER_IMAGE = 6     # ... and its largest (slice, structure) items: the benchmark's README protocol
MIN_PIXELS = 20
HOLD_BACK_SHARE = 0.2       # of the usable labelled images, at least one when there are two or more


class NothingToValidate(ValueError):
    """The held-back images have no structure the protocol can score."""


def hold_back(names: Sequence[str], seed: int = 0,
              patients: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Split labelled image names into (train, validation): a seeded choice of ``HOLD_BACK_SHARE`` of them, at least
    one, for validation. A single image is both (the check is then in-sample: it catches a broken fine-tune, not
    over-fitting; the trainer's stats say ``in_sample``).

    ``patients`` (image name -> patient id) makes the split patient-level: a patient's images go to one side
    together, so the check scores the new weights on patients they were not trained on (the project's own rule:
    other slices of a training patient are not held out). Images without a patient id count as patients of their
    own. When every image is of one patient, the split falls back to images (``split_unit`` says which)."""
    names = sorted(names)
    if len(names) < 2:
        return list(names), list(names)
    patients = patients or {}
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(patients.get(name) or f"image:{name}", []).append(name)
    if len(groups) < 2:
        groups = {f"image:{n}": [n] for n in names}
    n_val = max(1, round(HOLD_BACK_SHARE * len(names)))
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: set[str] = set()
    for key in order:  # whole patients, never more than half of the images (a patient of most images trains)
        if len(held) >= n_val:
            break
        if len(held) + len(groups[key]) <= max(n_val, len(names) // 2):
            held.update(groups[key])
    if not held:
        held.update(min((groups[k] for k in order), key=len))
    return [n for n in names if n not in held], [n for n in names if n in held]


def split_unit(train: Sequence[str], validation: Sequence[str], patients: Mapping[str, str] | None = None) -> str:
    """How far the validation images are from the training ones: ``"patient"`` (every validation image has a
    patient id that no training image shares), ``"image"`` (other images, patients unknown or shared) or
    ``"in_sample"`` (an image is on both sides)."""
    if set(train) & set(validation):
        return "in_sample"
    patients = patients or {}
    trained = {patients.get(n) for n in train}
    if all(patients.get(n) and patients[n] not in trained for n in validation):
        return "patient"
    return "image"


@dataclass
class Score:
    """Mean click Dice@1 / @3 and naming Top-1 (by the reference mask, among each image's own names) over the
    validation items; ``score`` is their mean, the figure the publication is decided on."""

    items: int
    dice1: float
    dice3: float
    top1: float

    @property
    def score(self) -> float:
        return float(np.mean([self.dice1, self.dice3, self.top1]))

    def as_dict(self) -> dict[str, Any]:
        return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()},
                "score": round(self.score, 4)}


def score_checkpoints(checkpoints: Sequence[str | Path], specs: Sequence[CaseSpec],
                      threads: int | None = None) -> list[Score]:
    """The click protocol (first click at the deepest point, correction clicks at the largest error) and naming by
    mask on the items of ``specs``, with the weights of each checkpoint. Each image is read once and answered by
    every checkpoint in turn (a held-back CT is seconds to read and hundreds of MB to hold)."""
    from ..engine import Engine

    engines = []
    try:
        for path in checkpoints:
            engines.append(Engine.from_checkpoint(path, device="cpu", threads=threads))
        runners = [MedPCLIPRunner(engine) for engine in engines]
        figures: list[tuple[list[float], list[float], list[float]]] = [([], [], []) for _ in runners]
        for spec in specs:
            case = load_case(spec)
            _, items, _ = case_items(case, 1.0, MIN_PIXELS, MAX_ITEMS_PER_IMAGE, MAX_SLICES_PER_IMAGE)
            names = [case.spec.labels[v] for v in case.concepts]
            for runner, (dice1, dice3, top1) in zip(runners, figures):
                runner.open(case)
                for trial in item_trials(runner, case, items, ("click",), CLICKS, names=names, prompts=("mask",),
                                         together=False):
                    dice1.append(trial.sim.dice[0])
                    dice3.append(trial.sim.dice[CLICKS - 1])
                    top1.append(float(trial.recognition["top1"]))
                runner.close()
    finally:
        for engine in engines:
            engine.close()
    if not figures[0][0]:
        raise NothingToValidate("the held-back images have no labelled structure of at least "
                                f"{MIN_PIXELS} pixels on a slice to validate with")
    return [Score(len(d1), float(np.mean(d1)), float(np.mean(d3)), float(np.mean(t1))) for d1, d3, t1 in figures]


def decide(served: Score, finetuned: Score) -> tuple[bool, str]:
    """Whether the fine-tuned weights are not worse than the served ones (a tie counts as not worse), and why."""
    not_worse = finetuned.score >= served.score - 1e-9
    return not_worse, (f"validation score {finetuned.score:.3f} {'>=' if not_worse else '<'} {served.score:.3f} "
                       f"of the served weights (mean of click Dice@1 {finetuned.dice1:.3f} vs {served.dice1:.3f}, "
                       f"Dice@{CLICKS} {finetuned.dice3:.3f} vs {served.dice3:.3f} and naming Top-1 "
                       f"{finetuned.top1:.3f} vs {served.top1:.3f})")

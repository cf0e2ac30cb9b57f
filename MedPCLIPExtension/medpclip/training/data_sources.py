"""Which cases a training run sees: data roots, whole patients held out, synthetic images (one rule for
``medpclip train`` and ``medpclip align``)."""

from __future__ import annotations

import logging

from ..data.cases import Case, load_case
from ..data.datalist import load_cases
from ..data.holdout import split_by_patient
from .synthetic import synthetic_cases

log = logging.getLogger(__name__)


def load_training_cases(data: str, holdout_patients: tuple[str, ...] = (), synth: str | None = None,
                        synth_volumes: int = 2, seed: int = 0, synth_tumours: int = 0,
                        tumour_contrast: str = "random") -> list[Case]:
    """Cases of every root in ``data`` (comma-separated datalists / case folders) except those of the
    ``holdout_patients``, plus ``synth_volumes`` synthetic images per label map of ``synth`` and
    ``synth_tumours`` more with a synthetic brain tumour drawn in (``tumour_contrast``: "random" or "sequence")."""
    specs = [s for root in str(data).split(",") if root.strip() for s in load_cases(root.strip())]
    if holdout_patients:
        specs, held = split_by_patient(specs, set(holdout_patients))
        log.info("left out %d cases of %d held-out patients", len(held), len(holdout_patients))
    cases = [load_case(s) for s in specs]
    if synth:
        cases += synthetic_cases(synth, synth_volumes, seed, tumours=synth_tumours, tumour_contrast=tumour_contrast)
    return cases

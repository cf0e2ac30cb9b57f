"""The held-out slice rule shared by training and evaluation (no evaluation slice is ever trained on).

Per case, on the canonical k (axial) axis, within the labelled extent [k_min, k_max] (slices holding any
label): a contiguous block of ``round(fraction * extent)`` slices (at least 1), centred in that extent, is
held out. When the extent has 10 or more slices, one guard slice on each side of the block is used by
neither training nor evaluation (neighbouring slices are nearly identical at fine spacing).

A single-slice (2D) case has a labelled extent of 1 slice: its only slice is held out (``train_slices`` is
empty), so such cases train nothing under this rule. Split them by patient instead (``split_by_patient``): the
training patients' cases with ``fraction=0`` (``train_slices`` = every slice) and the held-out patients' cases
evaluated on ``eval_slices(..., fraction=1.0)`` (their whole labelled extent).

Patient rule (``split_by_patient``): ``CaseSpec.patient`` (``meta.json`` key ``patient``) is the unit; every case
of a held-out patient (e.g. the FLAIR and the T1c of one BRATS patient, all slices of one BTCV patient) is held
out together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .volume import VolumeError

if TYPE_CHECKING:
    from .datalist import CaseSpec

DEFAULT_FRACTION = 0.2


def labelled_extent(canon_label: np.ndarray) -> tuple[int, int]:
    ks = np.nonzero(canon_label.reshape(canon_label.shape[0], -1).max(1) > 0)[0]
    if ks.size == 0:
        return 0, canon_label.shape[0] - 1
    return int(ks.min()), int(ks.max())


def holdout_block(k_min: int, k_max: int, fraction: float = DEFAULT_FRACTION) -> tuple[int, int]:
    """[start, stop) of held-out canonical k indices."""
    if fraction <= 0:
        return k_min, k_min
    extent = k_max - k_min + 1
    n = max(1, int(round(extent * fraction)))
    start = k_min + (extent - n) // 2
    return start, start + n


def guard_width(k_min: int, k_max: int) -> int:
    return 1 if k_max - k_min + 1 >= 10 else 0


def train_slices(canon_label: np.ndarray, fraction: float = DEFAULT_FRACTION) -> list[int]:
    k_min, k_max = labelled_extent(canon_label)
    start, stop = holdout_block(k_min, k_max, fraction)
    if stop == start:
        return list(range(canon_label.shape[0]))
    g = guard_width(k_min, k_max)
    return [k for k in range(canon_label.shape[0]) if k < start - g or k >= stop + g]


def eval_slices(canon_label: np.ndarray, fraction: float = DEFAULT_FRACTION) -> list[int]:
    k_min, k_max = labelled_extent(canon_label)
    start, stop = holdout_block(k_min, k_max, fraction)
    return list(range(start, stop))


def split_by_patient(specs: list["CaseSpec"], holdout_patients: Iterable[str]) -> tuple[list["CaseSpec"], list["CaseSpec"]]:
    """(training specs, held-out specs): every case whose ``patient`` is in ``holdout_patients`` is held out, all
    others train; the order of ``specs`` is kept. Unknown patient ids are a VolumeError listing the known ones."""
    wanted = {str(p).strip() for p in holdout_patients}
    known = sorted({s.patient for s in specs})
    unknown = sorted(wanted - set(known))
    if unknown:
        raise VolumeError(f"held-out patient id(s) {unknown} not found among the cases; known patient ids "
                          f"({len(known)}): {', '.join(known)}")
    train = [s for s in specs if s.patient not in wanted]
    held = [s for s in specs if s.patient in wanted]
    return train, held


def slice_holdout_fraction(provenance: dict) -> float:
    """The slice-level hold-out fraction to evaluate a checkpoint with: its own, or, for a checkpoint trained with
    whole patients held out (fraction 0), the default, with a warning that those slices belong to training
    patients (report patient-level figures with ``medpclip benchmark --patients`` instead)."""
    import logging

    fraction = float(provenance.get("holdout", {}).get("fraction", DEFAULT_FRACTION))
    if fraction > 0:
        return fraction
    logging.getLogger(__name__).warning(
        "this checkpoint held out whole patients (%s), not slices: the slice-level figures use the default "
        "%.0f%% slice rule on its training patients; use --patients for patient-level figures",
        ", ".join(provenance.get("holdout_patients", [])) or "none", DEFAULT_FRACTION * 100)
    return DEFAULT_FRACTION

"""Shared by box_threshold.py and calibration.py: the benchmark's patient-mode items (4 slices per case, the 6
largest structures) and a prompt's answer on one of them, read back with its probabilities through the public
contract (``with_uncertainty``: p = 1 - u/2 inside the mask, u/2 outside)."""
from typing import Iterator

import numpy as np
import torch

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import tight_box
from medpclip.engine import Engine
from medpclip.evaluation.benchmark import BenchmarkOptions
from medpclip.evaluation.items import case_items
from medpclip.evaluation.patients import FULL_EXTENT, case_meta, dataset_name, resolve_cases
from medpclip.evaluation.runners import canon_to_input_point


def items(patients: str, checkpoint: str | None = None) -> Iterator[tuple]:
    """-> (session, case, dataset, item, reference 2D mask) over the patients' benchmark items."""
    torch.set_num_threads(1)
    eng = Engine.from_checkpoint(checkpoint)
    opts = BenchmarkOptions(data="../shared/training", out="", patients=tuple(patients.split(",")))
    for spec in resolve_cases(opts):
        case = load_case(spec)
        ds = dataset_name(case.spec.name, case_meta(case.spec))
        s = eng.open(case.image)
        for it in case_items(case, FULL_EXTENT, 20, 6, 4)[1]:
            yield s, case, ds, it, extract_slice(case.canon_label, "axial", it.idx) == it.value


def box_prompt(s, idx: int, ref: np.ndarray) -> dict:
    x0, y0, x1, y1 = tight_box(ref)
    return {"box": canon_to_input_point(s, x0, y0, idx) + canon_to_input_point(s, x1, y1, idx)}


def answer(s, idx: int, extra: dict) -> tuple[np.ndarray, np.ndarray]:
    """A fresh object on canonical axial slice ``idx`` from prompt keys ``extra`` -> (mask, probability) 2D."""
    s.forget_feedback("axial", idx)
    r = s.segment({"space": "ijk", "mode": "2d", "slice": s.input_slice_index("axial", idx), **extra},
                  with_uncertainty=True)
    m = extract_slice(s.orient.array_to_canonical(r.mask), "axial", idx) > 0
    u = extract_slice(s.orient.array_to_canonical(r.uncertainty), "axial", idx).astype(np.float64)
    return m, np.where(m, 1 - u / 2, u / 2)

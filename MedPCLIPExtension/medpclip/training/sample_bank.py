"""Training slices on the model grid and (slice, structure) pairs to sample from."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch

from ..data.cases import Case
from ..data.geometry import extract_slice, slice_pixel_spacing
from ..data.holdout import train_slices
from ..data.slices import SliceGrid

MIN_PIXELS = 20  # structures smaller than this (on the original slice) are skipped


@dataclass
class BankSlice:
    case_index: int
    plane: str
    index: int
    image: torch.Tensor   # (S, S) float in [0, 1]
    label: torch.Tensor   # (S, S) int16 label values


class SampleBank:
    """Every training slice of every case resized to the model grid, and the pairs (slice, label value).

    Planes other than axial would cut through the held-out axial block, so those rows are blanked
    (image 0, label 0) before they enter the bank: no held-out voxel is ever seen in training.
    """

    def __init__(self, cases: list[Case], size: int, planes: tuple[str, ...] = ("axial",),
                 holdout_fraction: float = 0.2) -> None:
        self.cases = cases
        self.slices: list[BankSlice] = []
        self.pairs_by_case: list[list[tuple[int, int]]] = [[] for _ in cases]
        for ci, case in enumerate(cases):
            nk = case.canon_image.shape[0]
            keep_k = np.zeros(nk, bool)
            keep_k[train_slices(case.canon_label, holdout_fraction)] = True
            img = np.where(keep_k[:, None, None], case.canon_image, 0).astype(np.float32)
            lab = np.where(keep_k[:, None, None], case.canon_label, 0)
            for plane in planes:
                axis = {"axial": 0, "coronal": 1, "sagittal": 2}[plane]
                indices = np.nonzero(keep_k)[0] if plane == "axial" else range(img.shape[axis])
                for idx in indices:
                    lab2 = extract_slice(lab, plane, int(idx))
                    values, counts = np.unique(lab2, return_counts=True)
                    good = [int(v) for v, c in zip(values, counts) if v > 0 and c >= MIN_PIXELS]
                    if not good:
                        continue
                    grid = SliceGrid.create(*lab2.shape, slice_pixel_spacing(case.canon_spacing, plane), size)
                    si = len(self.slices)
                    self.slices.append(BankSlice(ci, plane, int(idx),
                                                 grid.image_to_model(extract_slice(img, plane, int(idx))),
                                                 grid.mask_to_model(lab2).to(torch.int16)))
                    self.pairs_by_case[ci].extend((si, v) for v in good)
        if not any(self.pairs_by_case):
            raise ValueError("no structure of at least 20 pixels in any training slice")
        # case weights ~ sqrt(#pairs): small cases are seen often without drowning the large ones
        self.case_weights = [math.sqrt(len(p)) for p in self.pairs_by_case]

    def sample_pair(self, rng: random.Random) -> tuple[BankSlice, int]:
        ci = rng.choices(range(len(self.cases)), weights=self.case_weights)[0]
        si, value = rng.choice(self.pairs_by_case[ci])
        return self.slices[si], value

    def summary(self) -> dict:
        return {"slices": len(self.slices), "pairs": sum(len(p) for p in self.pairs_by_case),
                "pairs_per_case": {c.spec.name: len(p) for c, p in zip(self.cases, self.pairs_by_case)}}

"""Training slices and (slice, structure) pairs, and the views the model is trained on.

Slices are kept at their own resolution (cropped to the body), so that a view can be cut at any scale, the
way the engine cuts them (``medpclip.data.views``): the body's **context view** (jittered: zoomed out with
padding, shifted) and **object views** around the target structure at a random scale and offset. The model
thus sees the same structure filling a small or a large share of its grid, whatever the scanner's field of
view.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch

from ..data.cases import Case
from ..data.geometry import extract_slice, slice_pixel_spacing
from ..data.holdout import train_slices
from ..data.slices import SliceGrid, square_window
from ..data.views import body_box, context_window, mask_extent, object_window, zoomed_window

MIN_PIXELS = 20  # structures smaller than this (on the original slice) are skipped
CONTEXT_SHARE = 0.45  # share of samples seen in the (jittered) context view; the rest in object views
LOCAL_SIDE_MM = (60.0, 240.0)  # side range (log-uniform) of a click-centred local view (``SampleBank.local_view``)


SYNTHETIC_SHARE = 0.15  # share of samples drawn from synthetic images (cases named synth_*)


def case_weights(cases: list[Case], pairs: list[int], synthetic_share: float = SYNTHETIC_SHARE,
                 tumour_share: float = 0.0) -> list[float]:
    """Sampling weight per case: each *patient* weighs sqrt(its pairs), shared by its cases (141 one-slice
    BTCV cases of 20 patients must not outweigh a 112-slice volume 7 to 1), and synthetic images together get
    ``synthetic_share`` of the samples. With ``tumour_share`` above 0, images with a synthetic tumour (cases
    named ``synth_tumour_*``) get that share on their own, the other synthetic images still ``synthetic_share``,
    the real cases the rest."""
    by_patient: dict[str, list[int]] = {}
    for n, case in enumerate(cases):
        by_patient.setdefault(getattr(case.spec, "patient", case.spec.name) or case.spec.name, []).append(n)
    w = [0.0] * len(cases)
    for members in by_patient.values():
        total = sum(pairs[n] for n in members)
        for n in members:
            w[n] = math.sqrt(total) * pairs[n] / total if total else 0.0
    synth = [n for n, c in enumerate(cases) if c.spec.name.startswith("synth_")]
    real_total, synth_total = sum(w) - sum(w[n] for n in synth), sum(w[n] for n in synth)
    if synth and real_total > 0 and synth_total > 0:
        f = synthetic_share / (1 - synthetic_share) * real_total / synth_total
        for n in synth:
            w[n] *= f
    tumour = {n for n, c in enumerate(cases) if c.spec.name.startswith("synth_tumour_")}
    if tumour_share > 0 and tumour:
        if synthetic_share + tumour_share >= 1:
            raise ValueError(f"synthetic share {synthetic_share} + tumour share {tumour_share} must stay below 1")
        groups = {"tumour": tumour, "synth": set(synth) - tumour, "real": set(range(len(cases))) - set(synth)}
        share = {"tumour": tumour_share, "synth": synthetic_share, "real": 1 - synthetic_share - tumour_share}
        total = sum(w)
        for key, members in groups.items():
            got = sum(w[n] for n in members)
            for n in members:
                w[n] *= share[key] * total / got if got else 0.0
    return w


@dataclass
class BankSlice:
    case_index: int
    plane: str
    index: int
    image: torch.Tensor            # (rows, cols) float16 in [0, 1], the slice at its own resolution
    label: torch.Tensor            # (rows, cols) int16 label values
    spacing: tuple[float, float]   # (row, col) mm
    context: tuple[int, int, int, int]  # the body window of this slice (x0, y0, x1, y1)


class SampleBank:
    """Every training slice of every case and the pairs (slice, label value) to sample from.

    ``holdout_fraction`` > 0 keeps the old slice-level rule (held-out axial block blanked in every plane);
    patient-level training passes 0 and leaves whole patients out of ``cases`` instead.
    """

    def __init__(self, cases: list[Case], size: int, planes: tuple[str, ...] = ("axial",),
                 holdout_fraction: float = 0.2, max_slices_per_plane: int | None = None,
                 tumour_share: float = 0.0) -> None:
        self.cases = cases
        self.size = size
        self.slices: list[BankSlice] = []
        self.pairs_by_case: list[list[tuple[int, int]]] = [[] for _ in cases]
        for ci, case in enumerate(cases):
            nk = case.canon_image.shape[0]
            keep_k = np.zeros(nk, bool)
            keep_k[train_slices(case.canon_label, holdout_fraction) if holdout_fraction > 0 else slice(None)] = True
            img = case.canon_image if keep_k.all() else np.where(keep_k[:, None, None], case.canon_image, 0)
            lab = case.canon_label if keep_k.all() else np.where(keep_k[:, None, None], case.canon_label, 0)
            body = body_box(img, case.canon_spacing)
            for plane in planes:
                if plane != "axial" and nk == 1:
                    continue  # a single-slice case has no coronal / sagittal slices
                axis = {"axial": 0, "coronal": 1, "sagittal": 2}[plane]
                indices = list(np.nonzero(keep_k)[0]) if plane == "axial" else list(range(img.shape[axis]))
                if max_slices_per_plane and len(indices) > max_slices_per_plane:
                    labelled = [i for i in indices if extract_slice(lab, plane, int(i)).any()]
                    pick = np.linspace(0, len(labelled) - 1, max_slices_per_plane).round().astype(int) if labelled else []
                    indices = [labelled[p] for p in sorted(set(pick))]
                spacing = slice_pixel_spacing(case.canon_spacing, plane)
                for idx in indices:
                    lab2 = extract_slice(lab, plane, int(idx))
                    values, counts = np.unique(lab2, return_counts=True)
                    good = [int(v) for v, c in zip(values, counts) if v > 0 and c >= MIN_PIXELS and v in case.concepts]
                    if not good:
                        continue
                    si = len(self.slices)
                    self.slices.append(BankSlice(
                        ci, plane, int(idx), torch.from_numpy(np.ascontiguousarray(extract_slice(img, plane, int(idx)))).half(),
                        torch.from_numpy(np.ascontiguousarray(lab2)).to(torch.int16), spacing,
                        context_window(body, plane, lab2.shape)))
                    self.pairs_by_case[ci].extend((si, v) for v in good)
        if not any(self.pairs_by_case):
            raise ValueError("no structure of at least 20 pixels in any training slice")
        self.case_weights = case_weights(cases, [len(p) for p in self.pairs_by_case], tumour_share=tumour_share)

    def sample_pair(self, rng: random.Random) -> tuple[BankSlice, int]:
        ci = rng.choices(range(len(self.cases)), weights=self.case_weights)[0]
        si, value = rng.choice(self.pairs_by_case[ci])
        return self.slices[si], value

    # -- views ------------------------------------------------------------------------------------------------
    def _grid(self, bslice: BankSlice, window) -> SliceGrid:
        rows, cols = bslice.label.shape
        return SliceGrid.create(rows, cols, bslice.spacing, self.size, window)

    def render(self, bslice: BankSlice, window) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, S) float image and (S, S) int16 labels of one view."""
        grid = self._grid(bslice, window)
        return grid.image_to_model(bslice.image.float()), grid.mask_to_model(bslice.label).to(torch.int16)

    def context_view(self, bslice: BankSlice) -> tuple[torch.Tensor, torch.Tensor]:
        """The engine's context view, unjittered (recognition-head training, evaluation)."""
        return self.render(bslice, bslice.context)

    def jittered_context_view(self, bslice: BankSlice, rng: random.Random,
                              zoom: tuple[float, float] = (0.85, 1.6)) -> tuple[torch.Tensor, torch.Tensor]:
        """The context view zoomed out (padding) or in by a random factor in ``zoom`` and shifted by up to 8 %."""
        x0, y0, x1, y1 = bslice.context
        z = rng.uniform(*zoom)
        dx, dy = rng.uniform(-0.08, 0.08) * (x1 - x0), rng.uniform(-0.08, 0.08) * (y1 - y0)
        return self.render(bslice, zoomed_window(bslice.context, z, (dx, dy)))

    def local_view(self, bslice: BankSlice, value: int, rng: random.Random,
                   side_mm: tuple[float, float] = LOCAL_SIDE_MM) -> tuple[torch.Tensor, torch.Tensor]:
        """A square view of a random physical side centred near a random pixel of the structure, the way a view
        around a user's click is cut: unlike an object view it is not framed by the structure, which may fill a
        sliver of it or be cut by its edge (then the answer must reach that edge)."""
        rows, cols = np.nonzero((bslice.label == value).numpy())
        k = rng.randrange(len(rows))
        side = math.exp(rng.uniform(math.log(side_mm[0]), math.log(side_mm[1])))
        jitter = 0.1 * side  # mm: the click need not sit at the view's exact centre
        cx = cols[k] + rng.uniform(-jitter, jitter) / bslice.spacing[1]
        cy = rows[k] + rng.uniform(-jitter, jitter) / bslice.spacing[0]
        return self.render(bslice, square_window(cx, cy, side, bslice.spacing))

    def random_view(self, bslice: BankSlice, value: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
        """A jittered context view (zoom out up to 1.6x with padding, or in to 0.85x; shifts) or an object view
        around ``value`` at a random scale and offset (what a click's refining pass or a box sees)."""
        if rng.random() < CONTEXT_SHARE:
            return self.jittered_context_view(bslice, rng)
        bounds = mask_extent((bslice.label == value).numpy())
        window = object_window(bounds, bslice.spacing, scale=rng.uniform(1.15, 2.4), margin_mm=rng.uniform(6.0, 36.0),
                               shift=(rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)))
        return self.render(bslice, window)

    def summary(self) -> dict:
        return {"slices": len(self.slices), "pairs": sum(len(p) for p in self.pairs_by_case),
                "pairs_per_case": {c.spec.name: len(p) for c, p in zip(self.cases, self.pairs_by_case)}}

"""What the engine answers: a segmentation result (public) and the per-slice records it is built from."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.slices import Window


@dataclass
class SegmentationResult:
    mask: np.ndarray                      # [k, j, i] uint8, the input's exact grid
    score: float                          # predicted quality (IoU) of the prompted slice, 0..1
    plane: str
    slice_index: int                      # prompted slice, as an index of the input image
    slices: list[int]                     # canonical indices that received a mask
    latency_ms: dict[str, float]
    uncertainty: np.ndarray | None = None  # [k, j, i] float32, 0 (certain) .. 1 (boundary)
    warnings: list[str] = field(default_factory=list)
    propagation: list[dict[str, Any]] = field(default_factory=list)  # 3D: per direction, slices / where / why it stopped
    # the part of the input array this result speaks for: (array axis, first, last input slice); a 2D result
    # replaces that slice of a segment and keeps the others, a 3D result its whole range
    slab_range: tuple[int, int, int] | None = None
    found: dict[str, Any] | None = None  # find: whether the text matched a region, its rank, the region's own top name
    region_embedding: torch.Tensor | None = field(default=None, repr=False)  # (E,) of the prompted slice's answer
    # (plane, canonical slice, 2D answer) of that slice: its geometry term is added only when the result is named
    answer2d: tuple[str, int, np.ndarray] | None = field(default=None, repr=False)
    # one click alone: (which of its answers this is, how many the model gives); the prompt's ``alternative``
    alternative: tuple[int, int] | None = None

    @property
    def voxels(self) -> int:
        return int(self.mask.sum())

    @property
    def slab(self) -> tuple[slice, slice, slice] | None:
        """Index expression of ``mask`` ([k, j, i]) covering the slices this result wrote."""
        if self.slab_range is None:
            return None
        axis, first, last = self.slab_range
        index = [slice(None)] * 3
        index[axis] = slice(first, last + 1)
        return tuple(index)

    def summary(self) -> dict[str, Any]:
        out = {"score": round(self.score, 4), "voxels": self.voxels, "plane": self.plane,
               "slice": self.slice_index, "slices": len(self.slices),
               "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()}, "warnings": self.warnings,
               **({"propagation": self.propagation} if self.propagation else {})}
        if self.found is not None:
            out["found"] = self.found
        if self.alternative is not None:
            out["alternative"], out["alternatives"] = self.alternative
        if self.slab_range is not None:
            axis, first, last = self.slab_range
            out["slab"] = {"array_axis": axis, "first": first, "last": last}
        return out


@dataclass
class SliceResult:
    logits: torch.Tensor        # (rows, cols) logits of the slice
    low_res: torch.Tensor       # (1, 1, 4g, 4g) logits for feedback
    score: float
    region: torch.Tensor        # (E,) region embedding

    @functools.cached_property
    def mask(self) -> np.ndarray:
        """The answer, read once (the engine asks for it several times per prompt; ``logits`` are never changed
        in place: ``views.with_mask`` makes a new result)."""
        return (self.logits > 0).numpy()


@dataclass
class ClickHistory:
    """The last answer on one slice, so that a correction click continues the same object."""

    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: tuple | None = None
    low_res: torch.Tensor | None = None   # logits in the view ``window`` of the slice
    window: Window | None = None
    mask: np.ndarray | None = None        # the answer on the whole slice


def uncertainty_map(logits: torch.Tensor) -> np.ndarray:
    """0 (certain) .. 1 (on the boundary) per pixel of a slice's logits."""
    p = torch.sigmoid(logits.float())
    return (1 - (2 * p - 1).abs()).numpy().astype(np.float32)

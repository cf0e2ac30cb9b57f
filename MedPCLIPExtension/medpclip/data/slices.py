"""Slices to and from the model grid: physical aspect kept, longest side = image_size, zero padding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class SliceGrid:
    """Maps a (rows, cols) slice with pixel spacing (row_mm, col_mm) onto an S x S model grid.

    The slice is resized to (h, w) so that pixels are square in mm and max(h, w) = S, placed top-left,
    and the rest is zero padding.
    """

    rows: int
    cols: int
    size: int
    h: int
    w: int

    @classmethod
    def create(cls, rows: int, cols: int, spacing: tuple[float, float], size: int) -> "SliceGrid":
        height_mm, width_mm = rows * spacing[0], cols * spacing[1]
        scale = size / max(height_mm, width_mm)
        h = max(1, min(size, int(round(height_mm * scale))))
        w = max(1, min(size, int(round(width_mm * scale))))
        return cls(rows, cols, size, h, w)

    @property
    def scale_xy(self) -> tuple[float, float]:
        return self.w / self.cols, self.h / self.rows

    def to_model_xy(self, xy: np.ndarray) -> np.ndarray:
        """Slice pixel (x=col, y=row) -> model pixel coordinates (centres at integers in both)."""
        sx, sy = self.scale_xy
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.stack([(xy[:, 0] + 0.5) * sx - 0.5, (xy[:, 1] + 0.5) * sy - 0.5], axis=1)

    def to_slice_xy(self, xy: np.ndarray) -> np.ndarray:
        sx, sy = self.scale_xy
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.stack([(xy[:, 0] + 0.5) / sx - 0.5, (xy[:, 1] + 0.5) / sy - 0.5], axis=1)

    def image_to_model(self, img: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(rows, cols) float -> (S, S) float tensor (bilinear)."""
        t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)[None, None]
        t = F.interpolate(t, size=(self.h, self.w), mode="bilinear", align_corners=False, antialias=True)
        return F.pad(t, (0, self.size - self.w, 0, self.size - self.h))[0, 0]

    def mask_to_model(self, mask: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(rows, cols) labels / binary -> (S, S) (nearest)."""
        t = torch.as_tensor(np.ascontiguousarray(mask)).float()[None, None]
        t = F.interpolate(t, size=(self.h, self.w), mode="nearest")
        return F.pad(t, (0, self.size - self.w, 0, self.size - self.h))[0, 0]

    def logits_to_slice(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., s, s) low-res logits of the padded grid -> (..., rows, cols) logits of the slice."""
        lead = logits.shape[:-2]
        x = logits.reshape(-1, 1, *logits.shape[-2:]).float()
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = x[..., : self.h, : self.w]
        x = F.interpolate(x, size=(self.rows, self.cols), mode="bilinear", align_corners=False)
        return x.reshape(*lead, self.rows, self.cols)

    def slice_mask_to_low_res(self, mask: np.ndarray, low: int) -> torch.Tensor:
        """Binary (rows, cols) -> (low, low) pseudo-logits (+/-4) for use as a previous-mask prompt."""
        m = self.mask_to_model(mask)[None, None]
        m = F.interpolate(m, size=(low, low), mode="bilinear", align_corners=False)[0, 0]
        return (m - 0.5) * 8.0

"""Slices to and from the model grid through a *view*: a rectangle of the slice (it may reach past the slice's
edges, which reads as zero), pixels square in mm, the longer side resized to image_size, zero padding.

The whole slice is one view (``window=None``); a prompt-centred window is another. Every coordinate the model
sees (points, boxes, masks, logits) goes through the same view, and results are mapped back onto the whole
slice, so a front-end never knows which view answered.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

Window = tuple[int, int, int, int]   # (x0, y0, x1, y1) slice pixels, end exclusive; may exceed the slice
OUTSIDE_LOGIT = -20.0                # logits of slice pixels outside the view: certainly background


@dataclass(frozen=True)
class SliceGrid:
    """Maps the window (x0, y0, x1, y1) of a (rows, cols) slice with pixel spacing (row_mm, col_mm) onto an
    S x S model grid: the window is resized to (h, w) so that pixels are square in mm and max(h, w) = S,
    placed top-left, and the rest is zero padding."""

    rows: int
    cols: int
    size: int
    h: int
    w: int
    x0: int = 0
    y0: int = 0
    x1: int = -1      # -1: the slice's own extent (set by create)
    y1: int = -1

    @classmethod
    def create(cls, rows: int, cols: int, spacing: tuple[float, float], size: int,
               window: Window | None = None) -> "SliceGrid":
        x0, y0, x1, y1 = window if window is not None else (0, 0, cols, rows)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty view window {window}")
        height_mm, width_mm = (y1 - y0) * spacing[0], (x1 - x0) * spacing[1]
        scale = size / max(height_mm, width_mm)
        h = max(1, min(size, int(round(height_mm * scale))))
        w = max(1, min(size, int(round(width_mm * scale))))
        return cls(rows, cols, size, h, w, int(x0), int(y0), int(x1), int(y1))

    @property
    def window(self) -> Window:
        return self.x0, self.y0, self.x1, self.y1

    @property
    def view_rows(self) -> int:
        return self.y1 - self.y0

    @property
    def view_cols(self) -> int:
        return self.x1 - self.x0

    @property
    def is_whole_slice(self) -> bool:
        return self.window == (0, 0, self.cols, self.rows)

    @property
    def scale_xy(self) -> tuple[float, float]:
        return self.w / self.view_cols, self.h / self.view_rows

    def to_model_xy(self, xy: np.ndarray) -> np.ndarray:
        """Slice pixel (x=col, y=row) -> model pixel coordinates (centres at integers in both)."""
        sx, sy = self.scale_xy
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.stack([(xy[:, 0] - self.x0 + 0.5) * sx - 0.5, (xy[:, 1] - self.y0 + 0.5) * sy - 0.5], axis=1)

    def contains(self, xy: np.ndarray, margin: float = 0.0) -> bool:
        """Whether every slice point (x, y) lies inside the window (at least ``margin`` px from its edges)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return bool(np.all((xy[:, 0] >= self.x0 + margin) & (xy[:, 0] <= self.x1 - 1 - margin)
                           & (xy[:, 1] >= self.y0 + margin) & (xy[:, 1] <= self.y1 - 1 - margin)))

    def _crop(self, t: torch.Tensor) -> torch.Tensor:
        """(rows, cols) -> (view_rows, view_cols), zero where the window leaves the slice."""
        if self.is_whole_slice:
            return t
        out = t.new_zeros(self.view_rows, self.view_cols)
        sy0, sy1 = max(0, self.y0), min(self.rows, self.y1)
        sx0, sx1 = max(0, self.x0), min(self.cols, self.x1)
        if sy1 > sy0 and sx1 > sx0:
            out[sy0 - self.y0:sy1 - self.y0, sx0 - self.x0:sx1 - self.x0] = t[sy0:sy1, sx0:sx1]
        return out

    def image_to_model(self, img: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(rows, cols) float -> (S, S) float tensor (bilinear, antialiased)."""
        t = self._crop(torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32))[None, None]
        t = F.interpolate(t, size=(self.h, self.w), mode="bilinear", align_corners=False, antialias=True)
        return F.pad(t, (0, self.size - self.w, 0, self.size - self.h))[0, 0]

    def mask_to_model(self, mask: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(rows, cols) labels / binary -> (S, S) (nearest)."""
        t = self._crop(torch.as_tensor(np.ascontiguousarray(mask)).float())[None, None]
        t = F.interpolate(t, size=(self.h, self.w), mode="nearest")
        return F.pad(t, (0, self.size - self.w, 0, self.size - self.h))[0, 0]

    def strokes_to_model(self, strokes: np.ndarray) -> torch.Tensor:
        """(rows, cols) strokes map (1 positive, 2 negative) -> (2, S, S) binary: every pixel a stroke touches,
        at least 3 model pixels wide (a thin stroke must survive a zoomed-out view; training paints 1-5 px).

        "Touches" is the antialiased bilinear resize of the stroke pixels above 0.05, dilated by one model pixel.
        A stroke covers a few hundred pixels of a 512 x 512 slice, so the resize is computed as the product of the
        resize's own one-axis weights with the strokes' bounding box only, and the dilation on the box it reaches:
        3.0 -> 0.4-0.8 ms per view of a 512 x 512 slice (1 thread); ``Testing/test_strokes.py`` holds it equal to
        the whole-slice computation."""
        out = torch.zeros(2, self.size, self.size)
        sy0, sy1, sx0, sx1 = max(0, self.y0), min(self.rows, self.y1), max(0, self.x0), min(self.cols, self.x1)
        if sy1 <= sy0 or sx1 <= sx0:
            return out
        inside = np.asarray(strokes)[sy0:sy1, sx0:sx1]  # the view's part of the slice (the rest reads as zero)
        for channel, value in enumerate((1, 2)):
            hit = inside == value
            rows, cols = np.flatnonzero(hit.any(1)), np.flatnonzero(hit.any(0))
            if not len(rows):
                continue
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            block = torch.from_numpy(hit[r0:r1, c0:c1].astype(np.float32))
            vr, vc = sy0 - self.y0, sx0 - self.x0   # slice -> view offsets
            wy = _resize_weights(self.view_rows, self.h, vr + r0, vr + r1)
            wx = _resize_weights(self.view_cols, self.w, vc + c0, vc + c1)
            out_rows, out_cols = torch.nonzero(wy.any(1)).flatten(), torch.nonzero(wx.any(1)).flatten()
            y0, y1, x0, x1 = int(out_rows[0]), int(out_rows[-1]) + 1, int(out_cols[0]), int(out_cols[-1]) + 1
            cover = wy[y0:y1] @ block @ wx[x0:x1].T > 0.05
            # dilate by one model pixel inside the view's (h, w), on the reached box grown by that pixel
            gy0, gy1, gx0, gx1 = max(0, y0 - 1), min(self.h, y1 + 1), max(0, x0 - 1), min(self.w, x1 + 1)
            box = torch.zeros(gy1 - gy0, gx1 - gx0)
            box[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0] = cover.float()
            out[channel, gy0:gy1, gx0:gx1] = F.max_pool2d(box[None, None], 3, stride=1, padding=1)[0, 0]
        return out

    def logits_to_slice(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., s, s) low-res logits of the padded grid -> (..., rows, cols) logits of the whole slice
        (``OUTSIDE_LOGIT`` where the view does not reach)."""
        lead = logits.shape[:-2]
        x = logits.reshape(-1, 1, *logits.shape[-2:]).float()
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = x[..., : self.h, : self.w]
        x = F.interpolate(x, size=(self.view_rows, self.view_cols), mode="bilinear", align_corners=False)
        if not self.is_whole_slice:
            full = x.new_full((x.shape[0], 1, self.rows, self.cols), OUTSIDE_LOGIT)
            sy0, sy1 = max(0, self.y0), min(self.rows, self.y1)
            sx0, sx1 = max(0, self.x0), min(self.cols, self.x1)
            if sy1 > sy0 and sx1 > sx0:
                full[..., sy0:sy1, sx0:sx1] = x[..., sy0 - self.y0:sy1 - self.y0, sx0 - self.x0:sx1 - self.x0]
            x = full
        return x.reshape(*lead, self.rows, self.cols)

    def slice_mask_to_low_res(self, mask: np.ndarray, low: int) -> torch.Tensor:
        """Binary (rows, cols) -> (low, low) pseudo-logits (+/-4) for use as a previous-mask prompt."""
        m = self.mask_to_model(mask)[None, None]
        m = F.interpolate(m, size=(low, low), mode="bilinear", align_corners=False)[0, 0]
        return (m - 0.5) * 8.0


@functools.lru_cache(maxsize=64)
def _resize_weights(n_in: int, n_out: int, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """(n_out, stop - start): the weights of the antialiased bilinear resize along one axis from inputs ``start`` to
    ``stop``, read off the resize itself (it is separable, and resizing an image from n_in to n_out along that axis
    resizes each row alike: the resized unit impulse at input j is the weights' column j). Only the asked inputs'
    impulses are resized, so a stroke's few hundred rows cost a fraction of the whole identity."""
    stop = n_in if stop is None else stop
    impulses = torch.zeros(stop - start, n_in)
    impulses[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
    return F.interpolate(impulses[None, None], size=(stop - start, n_out), mode="bilinear", align_corners=False,
                         antialias=True)[0, 0].T.contiguous()


def square_window(cx: float, cy: float, side_mm: float, spacing: tuple[float, float]) -> Window:
    """A window square in mm, centred on slice pixel (cx, cy)."""
    half_r = max(1.0, side_mm / spacing[0] / 2)
    half_c = max(1.0, side_mm / spacing[1] / 2)
    return (int(np.floor(cx - half_c + 0.5)), int(np.floor(cy - half_r + 0.5)),
            int(np.floor(cx + half_c + 0.5)) + 1, int(np.floor(cy + half_r + 0.5)) + 1)

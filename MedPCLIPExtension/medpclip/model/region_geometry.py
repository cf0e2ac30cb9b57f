"""Where a region lies in the body, and how it looks against it: a small, scale-free description that the
recognition head adds to the region embedding (issue 13).

On patients the model never saw, most naming errors are between neighbours that the image tokens describe alike
(spleen / liver, left / right kidney, aorta / vena cava). Their position in the body, their size relative to it and
their brightness relative to it are what an anatomist uses first, and they do not depend on the scanner's field of
view: every figure is relative to the body's bounding box in the context view (the image thresholded at
``BODY_LEVEL``, its 1st-99th percentile extent, so a table or an arm at the edge moves it little). Left / right is
that of the canonical orientation, the same for every volume.

The features are computed on the model-resolution context view (training: the sample bank's context view; engine:
the session's context view of the slice), so both sides see the same frame.
"""

from __future__ import annotations

import torch
from torch import nn

BODY_LEVEL = 0.05          # normalised intensity above which a pixel is body (air / background below)
N_FEATURES = 15


def _extent(profile: torch.Tensor, low: float = 0.01, high: float = 0.99) -> tuple[float, float]:
    """Index range holding the central ``low``..``high`` share of a non-negative 1D profile's mass."""
    c = torch.cumsum(profile, 0)
    total = float(c[-1])
    lo = int(torch.searchsorted(c, torch.tensor(low * total, dtype=c.dtype)))
    hi = int(torch.searchsorted(c, torch.tensor(high * total, dtype=c.dtype)))
    return float(lo), float(max(hi, lo) + 1)


def region_geometry(image: torch.Tensor, mask: torch.Tensor, is_ct: bool) -> torch.Tensor:
    """image (S, S) normalised to [0, 1], mask (S, S) bool on the same view -> (N_FEATURES,) float32.

    Centre relative to the body box in [-1, 1] (x = canonical left-right, y = anterior-posterior), its absolute
    x, spread and extent relative to the body, log area share, and mean / spread / contrast of the intensity inside
    (kept apart for CT and MR, whose intensities mean different things). An empty mask gives zeros."""
    image = image.float()
    mask = mask.bool()
    out = torch.zeros(N_FEATURES)
    area = float(mask.sum())
    if area == 0:
        return out
    body = image > BODY_LEVEL
    if float(body.sum()) < 64:
        body = torch.ones_like(body)
    x0, x1 = _extent(body.sum(0).float())
    y0, y1 = _extent(body.sum(1).float())
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    mx, my = cols.float().mean(), rows.float().mean()
    cx = (mx - (x0 + x1) / 2) / (bw / 2)
    cy = (my - (y0 + y1) / 2) / (bh / 2)
    inside = image[mask]
    body_mean = image[body].mean()
    m, s = inside.mean(), inside.std(unbiased=False)
    ct = 1.0 if is_ct else 0.0
    values = [cx, cy, cx.abs(),
              cols.float().std(unbiased=False) / bw * 4, rows.float().std(unbiased=False) / bh * 4,
              torch.log(torch.tensor(area / float(body.sum()))).clamp(min=-12) / 4,
              (cols.max() - cols.min() + 1).float() / bw, (rows.max() - rows.min() + 1).float() / bh,
              ct * m, ct * s * 4, ct * (m - body_mean) * 2,
              (1 - ct) * m, (1 - ct) * s * 4, (1 - ct) * (m - body_mean) * 2, torch.tensor(ct)]
    for i, v in enumerate(values):
        out[i] = float(v)
    return out


class RegionGeometryHead(nn.Module):
    """(B, N_FEATURES) -> (B, E) addition to the region embedding; zero at initialisation (the last layer starts
    at zero), so a checkpoint without it names exactly as before."""

    def __init__(self, embed_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, geometry: torch.Tensor) -> torch.Tensor:
        return self.net(geometry)

"""Where a region lies in the body, and how it looks against it: a small, scale-free description that the
recognition head adds to the region embedding (issue 13).

On patients the model never saw, most naming errors are between neighbours that the image tokens describe alike
(spleen / liver, left / right kidney, aorta / vena cava). Their position in the body, their size relative to it and
their brightness relative to it are what an anatomist uses first, and they do not depend on the scanner's field of
view: every figure is relative to the body's bounding box in the context view (the image thresholded at
``BODY_LEVEL``, its 1st-99th percentile extent, so a table or an arm at the edge moves it little). Left / right is
that of the canonical orientation, the same for every volume.

Its surroundings tell what a brightness means: a region's contrast against a thin ring around it (and the ring's
level against the body) separates structures that look alike on their own, such as a brain tumour's enhancing rim
(brighter than its ring on T1c), its necrotic core (darker than its ring) and the oedema (brighter than the
normal brain around it on FLAIR). The ring's width is a share of the body box, so it is scale-free too.

The features are computed on the model-resolution context view (training: the sample bank's context view; engine:
the session's context view of the slice), so both sides see the same frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

BODY_LEVEL = 0.05          # normalised intensity above which a pixel is body (air / background below)
N_FEATURES = 21            # what ``region_geometry`` returns
BASE_FEATURES = 15         # the figures before the ring's: what the bundled checkpoint's head reads (config default)
RING_FEATURES = 19         # the figures up to the ring's; then the region's shape (holes, box fill)
RING_SHARE = 0.02          # width of the ring around a region, as a share of the body box's larger side


def _extent(profile: torch.Tensor, low: float = 0.01, high: float = 0.99) -> tuple[float, float]:
    """Index range holding the central ``low``..``high`` share of a non-negative 1D profile's mass."""
    c = torch.cumsum(profile, 0)
    total = float(c[-1])
    lo = int(torch.searchsorted(c, torch.tensor(low * total, dtype=c.dtype)))
    hi = int(torch.searchsorted(c, torch.tensor(high * total, dtype=c.dtype)))
    return float(lo), float(max(hi, lo) + 1)


@dataclass(frozen=True)
class BodyFrame:
    """The body's box in a view (pixels, end exclusive), its area and mean intensity: what ``region_geometry``
    measures a region against. It depends on the image only, so the engine computes it once per slice."""
    x0: float
    x1: float
    y0: float
    y1: float
    area: float
    mean: float


def body_frame(image: torch.Tensor) -> BodyFrame:
    """image (S, S) normalised to [0, 1] -> the body's frame (the whole view when under 64 pixels are body)."""
    image = image.float()
    body = image > BODY_LEVEL
    counts = body.float()  # float sums: exact for these counts, and much faster than bool reductions
    if float(counts.sum()) < 64:
        body, counts = torch.ones_like(body), torch.ones_like(counts)
    x0, x1 = _extent(counts.sum(0))
    y0, y1 = _extent(counts.sum(1))
    return BodyFrame(x0, x1, y0, y1, float(counts.sum()), float(image[body].mean()))


def region_geometry(image: torch.Tensor, mask: torch.Tensor, is_ct: bool,
                    frame: BodyFrame | None = None, ring: bool = True, shape: bool = False) -> torch.Tensor:
    """image (S, S) normalised to [0, 1], mask (S, S) bool on the same view -> (N_FEATURES,) float32; ``frame``:
    ``body_frame(image)`` when the caller has it already.

    Centre relative to the body box in [-1, 1] (x = canonical left-right, y = anterior-posterior), its absolute
    x, spread and extent relative to the body, log area share, and mean / spread / contrast of the intensity inside
    (kept apart for CT and MR, whose intensities mean different things); then (features 15-18) the inside's
    contrast against a ring around the region and the ring's level against the body, again kept apart for CT and
    MR (left at zero with ``ring`` False: a head reading ``BASE_FEATURES`` does not pay for them); then, with
    ``shape`` (features 19-20), the share of the region's filled outline that is hole (a ring such as oedema around a
    tumour core, or an enhancing rim around necrosis, against a solid core) and the share of its bounding box it
    fills: both scale-free and contrast-free. An empty mask gives zeros."""
    image = image.float()
    mask = mask.bool()
    out = torch.zeros(N_FEATURES)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    area = float(rows.numel())
    if area == 0:
        return out
    f = frame or body_frame(image)
    bw, bh = max(f.x1 - f.x0, 1.0), max(f.y1 - f.y0, 1.0)
    mx, my = cols.float().mean(), rows.float().mean()
    cx = (mx - (f.x0 + f.x1) / 2) / (bw / 2)
    cy = (my - (f.y0 + f.y1) / 2) / (bh / 2)
    inside = image[rows, cols]
    m, s = inside.mean(), inside.std(unbiased=False)
    ct = 1.0 if is_ct else 0.0
    values = [cx, cy, cx.abs(),
              cols.float().std(unbiased=False) / bw * 4, rows.float().std(unbiased=False) / bh * 4,
              torch.log(torch.tensor(area / f.area)).clamp(min=-12) / 4,
              (cols.max() - cols.min() + 1).float() / bw, (rows.max() - rows.min() + 1).float() / bh,
              ct * m, ct * s * 4, ct * (m - f.mean) * 2,
              (1 - ct) * m, (1 - ct) * s * 4, (1 - ct) * (m - f.mean) * 2, torch.tensor(ct)]
    if ring:
        around = _ring_mean(image, mask, (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())),
                            max(1, round(RING_SHARE * max(bw, bh))), m)
        values += [ct * (m - around) * 2, ct * (around - f.mean) * 2,
                   (1 - ct) * (m - around) * 2, (1 - ct) * (around - f.mean) * 2]
    if shape:
        values += [0.0] * (RING_FEATURES - len(values)) + list(_shape_figures(mask, rows, cols, area))
    for i, v in enumerate(values):
        out[i] = float(v)
    return out


def _shape_figures(mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, area: float) -> tuple[float, float]:
    """(hole share of the filled outline, share of the bounding box filled) of a non-empty mask."""
    from scipy import ndimage

    r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    filled = float(ndimage.binary_fill_holes(mask[r0:r1, c0:c1].numpy()).sum())
    return (filled - area) / filled, area / ((r1 - r0) * (c1 - c0))


# Which figures of ``region_geometry`` measure the region's size: spreads and extents (linear in its side) and
# the log area share (stored as log(area) / 4).
_SIDE_FIGURES = (3, 4, 6, 7)
_LOG_AREA_FIGURE = 5


def jitter_region_size(geometry: torch.Tensor, max_area_factor: float,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, N_FEATURES) figures -> the same with each region's size scaled by a random area factor drawn
    log-uniformly in [1 / max_area_factor, max_area_factor] (the sides by its square root); position and intensity
    figures unchanged. A training augmentation for the geometry head: one structure's size varies between patients
    (a brain tumour's sub-regions by 10x), so a name should not hang on an exact size. Rows of zeros (no geometry)
    stay zero; ``max_area_factor`` 1 returns the input."""
    if max_area_factor < 1:
        raise ValueError(f"max_area_factor must be 1 or more, got {max_area_factor}")
    if max_area_factor == 1:
        return geometry
    span = math.log(max_area_factor)
    log_factor = (torch.rand(geometry.shape[0], 1, generator=generator) * 2 - 1) * span
    present = (geometry.abs().sum(1, keepdim=True) > 0).float()
    out = geometry.clone()
    out[:, list(_SIDE_FIGURES)] *= torch.exp(log_factor / 2 * present)
    out[:, _LOG_AREA_FIGURE:_LOG_AREA_FIGURE + 1] += log_factor / 4 * present
    return out


def _ring_mean(image: torch.Tensor, mask: torch.Tensor, bounds: tuple[int, int, int, int], width: int,
               inside_mean: torch.Tensor) -> torch.Tensor:
    """Mean intensity of the pixels within ``width`` pixels of the mask (square neighbourhood), outside it; the
    inside's mean when the mask fills its surroundings. Only the mask's box (``bounds``: first / last row and
    column) grown by ``width`` is looked at; sums of products, not boolean indexing, keep it under a millisecond."""
    r0, r1 = max(bounds[0] - width, 0), min(bounds[1] + width + 1, mask.shape[0])
    c0, c1 = max(bounds[2] - width, 0), min(bounds[3] + width + 1, mask.shape[1])
    crop = mask[r0:r1, c0:c1].float()
    ring = (_window_sums(crop, width) > 0.5).float() - crop
    count = float(ring.sum())
    return (image[r0:r1, c0:c1] * ring).sum() / count if count > 0 else inside_mean


def _window_sums(values: torch.Tensor, width: int) -> torch.Tensor:
    """Sums over each pixel's (2 * width + 1)-square neighbourhood (zero outside), by running sums along each axis:
    a square dilation of a mask where the sum is positive, four times faster than max pooling."""
    k = 2 * width + 1
    run = F.pad(values, (0, 0, width + 1, width)).cumsum(0)
    rows = run[k:] - run[:-k]
    run = F.pad(rows, (width + 1, width)).cumsum(1)
    return run[:, k:] - run[:, :-k]


class RegionGeometryHead(nn.Module):
    """(B, N_FEATURES) -> (B, E) addition to the region embedding; zero at initialisation (the last layer starts
    at zero), so a checkpoint without it names exactly as before. ``n_features``: how many of the leading
    figures it reads (``BASE_FEATURES``, or ``N_FEATURES`` with the ring around the region)."""

    def __init__(self, embed_dim: int, hidden: int = 64, n_features: int = BASE_FEATURES) -> None:
        super().__init__()
        self.n_features = n_features
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, geometry: torch.Tensor) -> torch.Tensor:
        return self.net(geometry[..., :self.n_features])

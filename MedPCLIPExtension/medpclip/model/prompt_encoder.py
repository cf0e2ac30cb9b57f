"""SAM-style prompt encoder plus the dense prompt map used for feature-level fusion.

Coordinates are pixels of the model grid (x, y), with pixel centres at +0.5 as in SAM.
Point labels: 1 positive, 0 negative, -1 padding. Boxes: (x0, y0, x1, y1).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """Channel LayerNorm for (B, C, H, W) maps (as in SAM)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of normalised (x, y) coordinates -> (..., 2 * num_feats)."""

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        self.register_buffer("gaussian_matrix", torch.randn(2, num_feats))

    def encode(self, coords01: torch.Tensor) -> torch.Tensor:
        coords = (2 * coords01 - 1) @ self.gaussian_matrix.to(coords01.dtype)
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def grid(self, size: int) -> torch.Tensor:
        """Dense positional encoding (C, size, size)."""
        ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        coords = torch.stack([xs, ys], dim=-1).to(self.gaussian_matrix) + 0.5
        return self.encode(coords / size).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    """Points / box -> sparse tokens (B, N, D) (a NaN box row means "no box"); previous low-res logits -> dense embedding (B, D, g, g).

    Also renders the prompt as a 3-channel map at model resolution (positive points and prior mask,
    negative points, box) for the trunk's zero-initialised dense fusion (``dense_prompt_map``).
    """

    def __init__(self, dim: int, image_size: int, grid: int, disc_radius: float = 3.0) -> None:
        super().__init__()
        self.dim, self.image_size, self.grid, self.disc_radius = dim, image_size, grid, disc_radius
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        # 0: negative point, 1: positive point, 2: box top-left, 3: box bottom-right
        self.point_embeddings = nn.Embedding(4, dim)
        self.not_a_point_embed = nn.Embedding(1, dim)
        self.no_mask_embed = nn.Embedding(1, dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, dim // 4, 2, stride=2), LayerNorm2d(dim // 4), nn.GELU(),
            nn.Conv2d(dim // 4, dim, 2, stride=2), LayerNorm2d(dim), nn.GELU(),
            nn.Conv2d(dim, dim, 1),
        )

    def dense_pe(self) -> torch.Tensor:
        """(1, D, g, g) positional encoding of the image embedding grid."""
        return self.pe_layer.grid(self.grid).unsqueeze(0)

    def sparse(self, points: torch.Tensor | None, labels: torch.Tensor | None,
               boxes: torch.Tensor | None, batch: int) -> torch.Tensor:
        """points (B, N, 2), labels (B, N), boxes (B, 4) -> tokens (B, N + 2, D); at least one token."""
        tokens = []
        if points is not None and points.shape[1] > 0:
            pe = self.pe_layer.encode((points + 0.5) / self.image_size)
            pe = torch.where((labels == -1)[..., None], torch.zeros_like(pe), pe)
            pe = pe + torch.where((labels == -1)[..., None], self.not_a_point_embed.weight,
                                  torch.where((labels == 1)[..., None], self.point_embeddings.weight[1],
                                              self.point_embeddings.weight[0]))
            tokens.append(pe)
        if boxes is not None:  # rows of NaN = this sample has no box (mixed batches in training)
            valid = torch.isfinite(boxes).all(1)[:, None, None]
            corners = torch.nan_to_num(boxes).reshape(-1, 2, 2)
            pe = self.pe_layer.encode((corners + 0.5) / self.image_size) + self.point_embeddings.weight[2:4]
            tokens.append(torch.where(valid, pe, self.not_a_point_embed.weight.expand_as(pe)))
        if not tokens:  # mask-only or empty prompt: one padding token keeps attention well defined
            return self.not_a_point_embed.weight.expand(batch, 1, -1)
        return torch.cat(tokens, dim=1)

    def dense(self, prev_low_res: torch.Tensor | None, batch: int) -> torch.Tensor:
        """prev_low_res (B, 1, 4g, 4g) logits or None -> (B, D, g, g)."""
        if prev_low_res is None:
            return self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, self.grid, self.grid)
        return self.mask_downscaling(prev_low_res)

    def dense_prompt_map(self, points: torch.Tensor | None, labels: torch.Tensor | None,
                         boxes: torch.Tensor | None, region_mask: torch.Tensor | None,
                         batch: int, stroke_map: torch.Tensor | None = None) -> torch.Tensor:
        """Render prompts as (B, 3, S, S) in [0, 1]: ch0 positive discs + region mask + positive strokes, ch1
        negative discs + negative strokes, ch2 box. Strokes (B, 2, S, S) are drawn where the clicks' discs are:
        a stroke is a long click for the trunk (issue 14)."""
        s = self.image_size
        ref = next(self.parameters())
        out = torch.zeros(batch, 3, s, s, dtype=ref.dtype, device=ref.device)
        if points is not None and points.shape[1] > 0:
            ys = torch.arange(s, device=out.device, dtype=out.dtype).view(1, 1, s, 1)
            xs = torch.arange(s, device=out.device, dtype=out.dtype).view(1, 1, 1, s)
            d2 = (xs - points[..., 0, None, None]) ** 2 + (ys - points[..., 1, None, None]) ** 2
            disc = (d2 <= self.disc_radius ** 2).to(out.dtype)  # (B, N, S, S)
            out[:, 0] = (disc * (labels == 1)[..., None, None]).amax(1)
            out[:, 1] = (disc * (labels == 0)[..., None, None]).amax(1)
        if boxes is not None:
            ys = torch.arange(s, device=out.device, dtype=out.dtype).view(1, s, 1)
            xs = torch.arange(s, device=out.device, dtype=out.dtype).view(1, 1, s)
            b = boxes[:, :, None, None]  # NaN rows compare False everywhere: no rectangle
            out[:, 2] = ((xs >= b[:, 0]) & (xs <= b[:, 2]) & (ys >= b[:, 1]) & (ys <= b[:, 3])).to(out.dtype)
        if region_mask is not None:
            out[:, 0] = torch.maximum(out[:, 0], region_mask[:, 0].to(out.dtype))
        if stroke_map is not None:
            out[:, :2] = torch.maximum(out[:, :2], stroke_map.to(out.dtype))
        return out

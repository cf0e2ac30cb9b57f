"""SAM-style two-way transformer mask decoder with a quality (IoU) head.

Differences from SAM, for small CPU models on small medical slices: the image embedding comes from the
MedP-CLIP trunk (fused tokens through a SAM-like neck), and the 4x upscaled features are enriched with
high-resolution conv features of the slice (cached per slice) for sharper edges.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .prompt_encoder import LayerNorm2d


class MLP(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class Attention(nn.Module):
    """Multi-head attention with optional internal down-projection (SAM)."""

    def __init__(self, dim: int, heads: int, downsample: int = 1) -> None:
        super().__init__()
        inner = dim // downsample
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, inner) for _ in range(3))
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


class TwoWayBlock(nn.Module):
    """Tokens self-attend, tokens -> image, MLP, image -> tokens (SAM's TwoWayAttentionBlock)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, skip_first_pe: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_token_to_image = Attention(dim, heads, downsample=2)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP([dim, mlp_dim, dim])
        self.norm3 = nn.LayerNorm(dim)
        self.cross_image_to_token = Attention(dim, heads, downsample=2)
        self.norm4 = nn.LayerNorm(dim)
        self.skip_first_pe = skip_first_pe

    def forward(self, queries, keys, query_pe, key_pe):
        if self.skip_first_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = self.norm4(keys + self.cross_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(dim, heads, mlp_dim, skip_first_pe=(i == 0)) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, downsample=2)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor):
        """image (B, D, g, g), image_pe (1, D, g, g), tokens (B, T, D) -> (tokens (B, T, D), image (B, g*g, D))."""
        keys = image.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        q, k = queries + tokens, keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q, k, keys))
        return queries, keys


class MaskDecoder(nn.Module):
    """Predicts ``num_multimask + 1`` low-res masks (B, M, 4g, 4g), their IoU estimates (B, M) and the IoU token's
    final state (B, D), which the click choice head reads too.

    Mask 0 is the single-mask output (used when the prompt is unambiguous, e.g. several clicks or a box);
    masks 1.. are the multimask outputs for a single click, as in SAM.
    """

    def __init__(self, dim: int, depth: int, heads: int, num_multimask: int, fine_channels: int) -> None:
        super().__init__()
        self.num_masks = num_multimask + 1
        self.transformer = TwoWayTransformer(depth, dim, heads, mlp_dim=dim * 4)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_masks, dim)
        up = dim // 8
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, 2, stride=2), LayerNorm2d(dim // 4), nn.GELU(),
            nn.ConvTranspose2d(dim // 4, up, 2, stride=2), nn.GELU(),
        )
        self.fine_proj = nn.Conv2d(fine_channels, up, 1)
        self.output_hypernetworks = nn.ModuleList(MLP([dim, dim, up]) for _ in range(self.num_masks))
        self.iou_head = MLP([dim, dim, self.num_masks])

    def forward(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor,
                dense: torch.Tensor, fine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image_embedding (B, D, g, g), sparse (B, T, D), dense (B, D, g, g), fine (B, F, 4g, 4g)."""
        b = sparse.shape[0]
        out_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], 0).expand(b, -1, -1)
        tokens = torch.cat([out_tokens, sparse], dim=1)
        src = image_embedding + dense
        hs, src = self.transformer(src, image_pe, tokens)
        g = image_embedding.shape[-1]
        src = src.transpose(1, 2).reshape(b, -1, g, g)
        upscaled = self.output_upscaling(src) + self.fine_proj(fine)
        hyper = torch.stack([mlp(hs[:, 1 + i]) for i, mlp in enumerate(self.output_hypernetworks)], dim=1)
        bb, c, h, w = upscaled.shape
        masks = (hyper @ upscaled.reshape(bb, c, h * w)).reshape(bb, -1, h, w)
        return masks, self.iou_head(hs[:, 0]), hs[:, 0]

"""CLIP-layout pre-norm Vision Transformer trunk.

Parameter names follow OpenAI CLIP's ``visual`` module (``conv1``, ``class_embedding``,
``positional_embedding``, ``ln_pre``, ``transformer.resblocks.N.{ln_1,attn,ln_2,mlp.c_fc,mlp.c_proj}``,
``ln_post``, ``proj``) so CLIP ViT-B/16 weights load by name (see ``checkpoint.import_clip_visual``).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import MedPCLIPConfig


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)); x + mlp(ln_2(x)). Tokens: (B, N, C)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, hidden))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, depth: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads, mlp_ratio) for _ in range(depth))


class VisionTransformer(nn.Module):
    """Patch embedding + class token + transformer blocks + ``ln_post`` / ``proj``.

    The forward pass is split so the engine can cache the prompt-free part per slice:
    ``embed(image)`` -> tokens (B, 1 + g*g, C); ``blocks[i](tokens)``; ``head(tokens)`` -> (B, embed_dim).
    """

    def __init__(self, cfg: MedPCLIPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.conv1 = nn.Conv2d(cfg.in_channels, w, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        scale = w ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.grid * cfg.grid + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, cfg.depth, cfg.heads, cfg.mlp_ratio)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(scale * torch.randn(w, cfg.embed_dim))

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.resblocks

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """image (B, in_channels, S, S) -> tokens (B, 1 + g*g, C) after ``ln_pre``."""
        x = self.conv1(image).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.ln_pre(x)

    def head(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, C) -> projected class token (B, embed_dim), not normalised."""
        return self.ln_post(tokens[:, 0]) @ self.proj

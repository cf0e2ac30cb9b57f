"""Feature-level prompt fusion for the last K trunk blocks.

Two paths, both silent at initialisation so an untrained fusion leaves the trunk unchanged:
- dense: the rendered prompt map is patch-embedded by a zero-initialised conv and added to the
  patch tokens before the first prompted block (Alpha-CLIP's alpha-channel trick);
- sparse: after each prompted block, image tokens (class token included) cross-attend to the prompt
  tokens; the update is scaled by tanh(gate) with gate = 0 at init, so global context is kept.
"""

from __future__ import annotations

import torch
from torch import nn


class DensePromptEmbed(nn.Module):
    """(B, 3, S, S) prompt map -> (B, g*g, C) token offsets; zero at init."""

    def __init__(self, width: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, prompt_map: torch.Tensor) -> torch.Tensor:
        return self.proj(prompt_map).flatten(2).transpose(1, 2)


class StrokePromptEmbed(nn.Module):
    """(B, 2, S, S) painted strokes (positive, negative) -> (B, g*g, C) token offsets.

    The strokes' own input path (issue 14): clicks, boxes and masks keep ``DensePromptEmbed`` to themselves, so
    training this path on strokes cannot change what a click segments. No bias and zero weights at init: an empty
    stroke map, or an untrained path, adds exactly zero.
    """

    def __init__(self, width: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(2, width, kernel_size=patch_size, stride=patch_size, bias=False)
        nn.init.zeros_(self.proj.weight)

    def forward(self, stroke_map: torch.Tensor) -> torch.Tensor:
        return self.proj(stroke_map).flatten(2).transpose(1, 2)


class GatedCrossAttention(nn.Module):
    """x (B, N, C) attends to prompt tokens p (B, M, Dp): x + tanh(gate) * attn(ln(x), p)."""

    def __init__(self, width: int, prompt_dim: int, heads: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(width)
        self.prompt_proj = nn.Linear(prompt_dim, width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, prompt_tokens: torch.Tensor) -> torch.Tensor:
        p = self.prompt_proj(prompt_tokens)
        update = self.attn(self.ln(x), p, p, need_weights=False)[0]
        return x + torch.tanh(self.gate) * update

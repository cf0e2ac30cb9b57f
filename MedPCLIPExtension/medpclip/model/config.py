"""Model configurations. ``tiny`` is the CPU default; ``b16`` matches CLIP ViT-B/16's visual tower."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .region_geometry import BASE_FEATURES


@dataclass(frozen=True)
class MedPCLIPConfig:
    name: str = "tiny"
    image_size: int = 256          # model grid: slices are resized to image_size x image_size
    patch_size: int = 16
    width: int = 192               # trunk token width
    depth: int = 8                 # total trunk blocks
    heads: int = 3
    mlp_ratio: float = 4.0
    prompt_blocks: int = 3         # the last K blocks see the prompt (the first depth-K are cached per slice)
    embed_dim: int = 256           # shared region / text embedding size
    decoder_dim: int = 128         # mask decoder transformer width
    decoder_depth: int = 2
    decoder_heads: int = 4
    num_multimask: int = 3         # masks output when the prompt is ambiguous (plus one single-mask token)
    fine_channels: int = 32        # high-resolution conv features for sharp mask edges (see docs/DESIGN-NOTES.md)
    text_dim: int = 384            # all-MiniLM-L6-v2 sentence embedding size
    in_channels: int = 1           # grey-level medical slices
    geometry_features: int = BASE_FEATURES  # region figures the geometry head reads (model/region_geometry.py)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def prompt_free_blocks(self) -> int:
        return self.depth - self.prompt_blocks

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MedPCLIPConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**data)


CONFIGS: dict[str, MedPCLIPConfig] = {
    "tiny": MedPCLIPConfig(),
    # CLIP ViT-B/16 visual tower (224 px in CLIP; positional embeddings are resized to the grid on import).
    "b16": MedPCLIPConfig(name="b16", image_size=224, width=768, depth=12, heads=12, prompt_blocks=4,
                          embed_dim=512, decoder_dim=256, decoder_heads=8, fine_channels=32),
}


def get_config(name: str) -> MedPCLIPConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model config {name!r}; choose one of {sorted(CONFIGS)}") from None

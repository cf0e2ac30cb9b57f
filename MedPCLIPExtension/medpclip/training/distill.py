"""Learning without forgetting for fine-tunes (``medpclip train --distill-weight``): a frozen copy of the
``--init-from`` model and the divergence of the trained model's answers from it."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..model.checkpoint import load_matching_weights
from ..model.config import MedPCLIPConfig
from ..model.medpclip import MedPCLIP, Prompts


class Distiller:
    """Holds a fine-tune's answers near the model it starts from (docs/DESIGN-NOTES.md, "Learning without
    forgetting"): what the fine-tune does not aim at (a first click on a thin vessel) stays where it was while
    the mask losses teach corrections, boxes and propagation prompts."""

    def __init__(self, cfg: MedPCLIPConfig, init_from: str, device: torch.device) -> None:
        teacher = MedPCLIP(cfg)
        load_matching_weights(teacher, init_from)
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher.to(device).eval()

    def loss(self, images: torch.Tensor, prompts: Prompts, masks: torch.Tensor,
             region_w: torch.Tensor) -> torch.Tensor:
        """The mean per-pixel KL divergence of every output's low-res mask logits ``masks`` (B, M, h, w) from the
        frozen model's answer to the same prompts, over region samples (``region_w`` (B,) 0 / 1); 0 while the
        two models agree."""
        with torch.no_grad():
            target = torch.sigmoid(self.teacher.prompted(self.teacher.encode_slices(images), prompts).masks.float())
        bce = F.binary_cross_entropy_with_logits(masks, target, reduction="none")
        entropy = F.binary_cross_entropy(target, target, reduction="none")
        per_sample = (bce - entropy).flatten(1).mean(1)
        return (per_sample * region_w).sum() / region_w.sum().clamp(min=1)

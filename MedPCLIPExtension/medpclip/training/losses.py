"""Losses: region-text InfoNCE with same-class positives and label smoothing; focal + Dice + IoU for masks."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def region_text_loss(region: torch.Tensor, text: torch.Tensor, targets: torch.Tensor, logit_scale: torch.Tensor,
                     smoothing: float = 0.1) -> torch.Tensor:
    """region (B, E), text (C, E) (all candidate classes), targets (B,) class index.

    Region -> text: cross-entropy over all classes (label smoothing). Text -> region: for each class in the
    batch, a soft target spread over all regions of that class (same-class positives are not negatives).
    """
    scale = logit_scale.exp().clamp(max=100)
    logits = scale * region @ text.t()
    loss_r2t = F.cross_entropy(logits, targets, label_smoothing=smoothing)
    classes = targets.unique()
    t_logits = logits.t()[classes]                                        # (Cb, B)
    positives = (targets[None, :] == classes[:, None]).float()
    soft = positives / positives.sum(1, keepdim=True)
    loss_t2r = -(soft * F.log_softmax(t_logits, dim=1)).sum(1).mean()
    return 0.5 * (loss_r2t + loss_t2r)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Per-sample mean focal loss; logits / target (B, H, W)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.flatten(1).mean(1)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    return 1 - (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred = (logits > 0).flatten(1).float()
    t = target.flatten(1)
    inter = (pred * t).sum(1)
    union = ((pred + t) > 0).float().sum(1)
    return inter / union.clamp(min=1)


RANK_SCALE = 10.0  # predicted IoUs (0..1) -> logits of the ranking cross-entropy


def mask_loss(masks: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor, multimask: torch.Tensor,
              focal_weight: float = 20.0, rank_weight: float = 0.0,
              single_output: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """masks (B, M, H, W) logits at target resolution, iou_pred (B, M), target (B, H, W), multimask (B,) bool.

    Multimask samples (a single click) are trained on their best of masks 1..M-1 (SAM); others on mask
    ``single_output`` (B,) long, 0 where not given (with ``--boxes-on-box-output`` the trainer passes the
    checkpoint's ``box_output`` for a box alone: the output the engine answers it with).
    ``rank_weight`` adds, for multimask samples, a cross-entropy that the predicted IoUs of masks 1..M-1 pick the
    truly best one (the engine answers a click with the best-rated output: the MSE alone did not rank them,
    docs/RESULTS.md "First click"). Returns (loss, index of the trained mask per sample).
    """
    b, m = masks.shape[:2]
    per = torch.stack([focal_weight * focal_loss(masks[:, i], target) + dice_loss(masks[:, i], target)
                       for i in range(m)], dim=1)                                   # (B, M)
    multi_best = per[:, 1:].argmin(1) + 1
    single = single_output.to(multi_best) if single_output is not None else torch.zeros_like(multi_best)
    chosen = torch.where(multimask, multi_best, single)
    seg = per.gather(1, chosen[:, None]).squeeze(1)
    with torch.no_grad():
        true_iou = torch.stack([mask_iou(masks[:, i], target) for i in range(m)], dim=1)
    iou_l = F.mse_loss(iou_pred, true_iou, reduction="none").mean(1)
    if rank_weight > 0 and bool(multimask.any()):
        best = true_iou[:, 1:].argmax(1)
        rank = F.cross_entropy(RANK_SCALE * iou_pred[:, 1:], best, reduction="none")
        iou_l = iou_l + rank_weight * torch.where(multimask, rank, torch.zeros_like(rank))
    return (seg + iou_l).mean(), chosen

"""What a correction click may change (FocalClick's progressive merge, Chen et al. 2022): the model answers the
whole prompt again, but only the changes connected to the new clicks are taken; the rest of the previous answer
stands, so a negative click on a leak does not also take away a correct part far from it."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .results import SliceResult

Points = list[tuple[float, float, int]]


def merge_correction(previous: np.ndarray, answer: np.ndarray, new_points: Points, reach_px: int = 2) -> np.ndarray:
    """The previous 2D answer with the pieces of (answer XOR previous) that touch a new click (within
    ``reach_px``). When no changed piece touches a click, the model's answer stands as it is."""
    changed = previous != answer
    if not changed.any() or not new_points:
        return answer
    pieces, n = ndimage.label(changed, structure=np.ones((3, 3), bool))
    rows, cols = changed.shape
    keep = set()
    for x, y, _ in new_points:
        r, c = int(round(y)), int(round(x))
        window = pieces[max(0, r - reach_px):min(rows, r + reach_px + 1), max(0, c - reach_px):min(cols, c + reach_px + 1)]
        keep.update(int(v) for v in np.unique(window) if v)
    if not keep:
        return answer
    return np.where(np.isin(pieces, list(keep)), answer, previous)


def merged_result(res: SliceResult, previous: np.ndarray, new_points: Points) -> SliceResult:
    """``res`` with its mask merged onto ``previous``; the feedback logits stay the model's own."""
    answer = res.mask
    merged = merge_correction(previous, answer, new_points)
    if np.array_equal(merged, answer):
        return res
    logits = res.logits.clone()
    reverted = torch.from_numpy(merged != answer)
    logits[reverted] = torch.where(torch.from_numpy(merged[reverted.numpy()]), 1.0, -1.0).to(logits.dtype)
    return SliceResult(logits, res.low_res, res.score, res.region)

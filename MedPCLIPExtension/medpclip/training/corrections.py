"""Simulated correction prompts for training: what a user adds after seeing the model's answer."""

from __future__ import annotations

import random

import numpy as np
import torch

from ..data.masks import correction_click
from ..data.stroke_sim import correction_stroke


def with_corrections(batch, points, labels, strokes: torch.Tensor, pred: np.ndarray, rng: random.Random):
    """One more simulated correction per region sample of ``batch`` (a trainer ``Batch``) on its answer ``pred``
    (B, S, S) bool: a click at the deepest point of the largest error, or for stroke samples a correction
    stroke (its deepest point as the token, its pixels in the map).
    -> new (points, labels, stroke maps); the inputs are left as they were."""
    points2 = [list(p) for p in points]
    labels2 = [list(l) for l in labels]
    strokes2 = strokes.clone()
    tgt = batch.targets.numpy() > 0.5
    for b in range(len(points2)):
        if not batch.is_region[b]:
            continue
        if batch.is_stroke[b]:
            corr = correction_stroke(pred[b], tgt[b], rng)
            if corr is not None:
                xy, lab, stroke = corr
                points2[b].append(xy)
                labels2[b].append(lab)
                ch = 0 if lab == 1 else 1
                strokes2[b, ch] = torch.maximum(strokes2[b, ch], torch.from_numpy(stroke).float())
            continue
        click = correction_click(pred[b], tgt[b])
        if click is not None:
            (r, c), lab = click
            points2[b].append((float(c), float(r)))
            labels2[b].append(lab)
    return points2, labels2, strokes2

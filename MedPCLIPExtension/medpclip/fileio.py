"""Atomic file writes, one behaviour for every writer in the package.

A reader (a MONAI Label client downloading a label, a trainer loading a checkpoint, a Slicer user opening a
result) sees the old file or the complete new one, never a half-written one: the data goes to a temporary file in
the destination folder, is flushed to disk (``fsync``), given ordinary permissions (``mkstemp`` creates 0600, and
results are meant to be shared), renamed over the destination and the folder entry is flushed too. An error on the
way removes the temporary file and leaves the destination as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

FILE_MODE = 0o644
DOUBLE_SUFFIXES = (".nii.gz", ".seg.nrrd")


def _suffix(path: Path) -> str:
    """The temporary file keeps the destination's format suffix: writers (SimpleITK, numpy) choose the format by it."""
    for double in DOUBLE_SUFFIXES:
        if path.name.endswith(double):
            return double
    return path.suffix


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def replace_atomically(tmp: str | Path, dest: str | Path) -> Path:
    """Rename a finished ``tmp`` (same folder) over ``dest`` with the module's permissions and fsyncs."""
    dest = Path(dest)
    if Path(tmp).is_file():
        _fsync_file(str(tmp))
        os.chmod(tmp, FILE_MODE)
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    return dest


def atomic_write(path: str | Path, write: Callable[[str], object] | bytes | str, format_suffix: bool | None = None) -> Path:
    """Write ``path`` atomically. ``write`` is the content (bytes / text) or a function that writes a file at the
    temporary path it is given (``lambda tmp: sitk.WriteImage(image, tmp)``).

    The temporary file is ``.<name>.<random>.part``; with ``format_suffix`` (default: for a write function) the
    destination's format suffix follows (``....part.nii.gz``), for writers that choose the format by it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = callable(write) if format_suffix is None else format_suffix
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part" + (_suffix(path) if keep else ""))
    os.close(fd)
    try:
        if isinstance(write, (bytes, str)):
            Path(tmp).write_bytes(write.encode() if isinstance(write, str) else write)
        else:
            write(tmp)
        return replace_atomically(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_copy(src: str | Path, dest: str | Path) -> Path:
    """Copy ``src`` to ``dest`` atomically (large files are streamed)."""
    return atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp), format_suffix=False)


def remove_stale_parts(dest: str | Path) -> list[Path]:
    """Temporary files an interrupted ``atomic_write(dest, ...)`` left behind (a killed process cannot clean up)."""
    dest = Path(dest)
    stale = sorted(p for p in dest.parent.glob(f".{dest.name}.*") if is_temporary(p.name))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def is_temporary(name: str) -> bool:
    """Whether a file name is one of this module's temporary files."""
    return name.startswith(".") and (name.endswith(".part") or ".part." in name)

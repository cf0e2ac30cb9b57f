"""What the page can open: the server-side studies given on the command line, and files uploaded from the browser
(copied into a folder the page owns, so the engine keeps its own copy whatever the upload widget does)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
MAX_UPLOAD_BYTES = 2 * 1024 ** 3


@dataclass(frozen=True)
class Study:
    name: str
    path: Path


def is_image_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(IMAGE_SUFFIXES) and not name.endswith(".seg.nrrd")


def is_dicom_folder(path: Path) -> bool:
    """A folder holding DICOM files (``.dcm`` or files starting with the DICM preamble)."""
    if not path.is_dir():
        return False
    for f in sorted(path.iterdir())[:20]:
        if f.is_file() and (f.suffix.lower() == ".dcm" or _has_dicm_preamble(f)):
            return True
    return False


def _has_dicm_preamble(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def list_studies(root: str | Path) -> list[Study]:
    """An image file or DICOM folder -> that study; a folder of them -> each image file and DICOM folder in it
    (case folders holding ``image.*`` are named after the folder). A path that holds nothing openable is an
    error that says so."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    if is_image_file(root) or is_dicom_folder(root):
        return [Study(root.name, root)]
    studies = []
    for p in sorted(root.rglob("*")):
        if is_image_file(p) and not p.name.startswith(("label", "mask")):
            name = str(p.relative_to(root))
            studies.append(Study(name, p))
        elif is_dicom_folder(p):
            studies.append(Study(str(p.relative_to(root)) + "/", p))
    if not studies:
        raise FileNotFoundError(f"{root}: no image file (NIfTI, NRRD, MHA) or DICOM series in it")
    return studies


def save_uploads(files, folder: Path) -> Path:
    """Write uploaded files (trame file dicts: name + content) into a new sub-folder of ``folder``; returns the
    image file, or the folder for several files (a DICOM series)."""
    files = files if isinstance(files, list) else [files]
    target = Path(folder) / f"upload-{len(list(Path(folder).iterdir())) + 1}"
    target.mkdir(parents=True)
    written = []
    for f in files:
        name = Path(str(f.get("name") or "upload")).name
        content = f.get("content")
        if isinstance(content, list):  # a file sent in chunks
            content = b"".join(content)
        if not isinstance(content, (bytes, bytearray)) or not content:
            raise ValueError(f"upload {name!r} arrived empty")
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValueError(f"upload {name!r} is larger than {MAX_UPLOAD_BYTES // 1024 ** 3} GB")
        (target / name).write_bytes(content)
        written.append(target / name)
    if len(written) == 1 and not is_dicom_folder(target):
        return written[0]
    return target

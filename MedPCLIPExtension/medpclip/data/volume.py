"""Volumes: loading (NIfTI, NRRD, MHA, DICOM series folders), geometry, modality, and writing label maps
back in the input's exact geometry.

Arrays are indexed ``[k, j, i]`` (i fastest), as in SimpleITK and Slicer. ``affine`` maps continuous
index ``(i, j, k, 1)`` to RAS millimetres.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from .geometry import grid_mapping, onto_grid

log = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".seg.nrrd", ".mha", ".mhd", ".dcm")
# Refuse absurd declared sizes before allocating (a corrupt header can claim terabytes).
MAX_VOXELS = 1024 * 1024 * 1024


class VolumeError(ValueError):
    """A file or array that cannot be used as a volume; the message names the file and the problem."""


@dataclass
class Volume:
    array: np.ndarray                 # [k, j, i] float32 (images) or integer (label maps: label_dtype)
    affine: np.ndarray                # 4x4 index (i, j, k) -> RAS mm
    modality: str = "CT"              # "CT" | "MR" | other DICOM modality string
    source: str | None = None
    is_dicom: bool = False
    dicom_files: list[str] = field(default_factory=list)

    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        k, j, i = self.array.shape
        return i, j, k

    @property
    def spacing(self) -> np.ndarray:
        """(si, sj, sk) in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def same_geometry(self, other: "Volume", tol: float = 1e-3) -> bool:
        return self.array.shape == other.array.shape and np.allclose(self.affine, other.affine, atol=tol)


def affine_from_sitk(image) -> np.ndarray:
    spacing = np.array(image.GetSpacing(), dtype=float)
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing[None, :]
    lps[:3, 3] = image.GetOrigin()
    return LPS_TO_RAS @ lps


def sitk_geometry_from_affine(affine: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """RAS affine -> (spacing, origin, direction) in SimpleITK's LPS convention."""
    lps = LPS_TO_RAS @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    direction = lps[:3, :3] / spacing[None, :]
    return tuple(spacing), tuple(lps[:3, 3]), tuple(direction.ravel())


def guess_modality(array: np.ndarray) -> str:
    """Stated rule: CT when at least 5% of voxels are below -500 (air in Hounsfield units) and the
    minimum is >= -3100 (HU floor, allowing scanner padding values such as -1024 or -3024); MR otherwise.
    MR intensities are arbitrary but never negative air values below -500 over 5% of the volume.
    Counted slab by slab: a whole-volume copy of the finite voxels added 0.47 GB to the peak memory of reading a
    512 x 512 x 300 CT (docs/RESULTS.md, "Memory")."""
    count, low, lowest = 0, 0, np.inf
    for k in range(0, len(array), 16):
        slab = array[k:k + 16]
        if not np.issubdtype(slab.dtype, np.integer):
            slab = slab[np.isfinite(slab)]
        if slab.size:
            count += slab.size
            low += int(np.count_nonzero(slab < -500))
            lowest = min(lowest, float(slab.min()))
    if count == 0:
        return "MR"
    return "CT" if low / count >= 0.05 and lowest >= -3100 else "MR"


def _dicom_pixel_bytes(ds) -> int:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1) * \
        (int(ds.BitsAllocated) // 8 or 1) * frames


def _pixel_data_extent(ds, pixels) -> tuple[int | None, int]:
    """(length of the pixel data or None when undefined / encapsulated, file offset of its end). pydicom hands
    back a raw element (not yet parsed: length and offset from the header) or a parsed one (its value)."""
    if hasattr(pixels, "value_tell"):                      # RawDataElement
        length = None if pixels.length == 0xFFFFFFFF else int(pixels.length)
        return length, int(pixels.value_tell) + (length or 0)
    value = ds.PixelData                                   # parsed (or deferred: read now)
    return (len(value) if value is not None else 0), 0


def _check_dicom_files(folder: Path, files: list[str]) -> None:
    """Refuse a series GDCM would read wrongly: absurd declared sizes, pixel data shorter than declared
    (GDCM zero-fills it), or missing / unevenly spaced slices (ITK only warns and assumes even spacing)."""
    import pydicom

    normal, positions, voxels = None, [], 0
    for name in files:
        try:
            ds = pydicom.dcmread(name, defer_size="1 KB")
            rows, cols, pixels = int(ds.Rows), int(ds.Columns), ds.get_item(0x7FE00010)
        except Exception as exc:  # pydicom raises many types for damaged files
            raise VolumeError(f"{name}: damaged DICOM file ({type(exc).__name__}: {str(exc)[:120]})") from None
        voxels += rows * cols * int(ds.get("NumberOfFrames", 1) or 1)
        if voxels > MAX_VOXELS:
            raise VolumeError(f"{folder}: the DICOM series declares more than {MAX_VOXELS} voxels "
                              f"({rows} x {cols} per slice)")
        if pixels is None:
            raise VolumeError(f"{name}: DICOM file has no pixel data")
        length, end = _pixel_data_extent(ds, pixels)
        compressed = ds.file_meta.TransferSyntaxUID.is_compressed if "TransferSyntaxUID" in ds.file_meta else False
        if end > os.path.getsize(name) or (length is not None and not compressed and length < _dicom_pixel_bytes(ds)):
            raise VolumeError(f"{name}: DICOM pixel data is truncated (shorter than its {rows} x {cols} image)")
        if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
            if normal is None:
                o = np.array(ds.ImageOrientationPatient, dtype=float)
                normal = np.cross(o[:3], o[3:])
            positions.append(float(np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float))))
    gaps = np.diff(np.sort(positions))
    if len(gaps) >= 2:
        typical = float(np.median(gaps))
        if typical <= 0 or np.any(np.abs(gaps - typical) > 0.1 * typical + 1e-3):
            raise VolumeError(f"{folder}: DICOM slices are missing or unevenly spaced (gaps {sorted(set(np.round(gaps, 3)))} "
                              "mm); check that the series is complete")


def _read_dicom_series(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise VolumeError(f"{folder}: no DICOM series found in this folder")
    best = max(series, key=lambda s: len(reader.GetGDCMSeriesFileNames(str(folder), s)))
    files = list(reader.GetGDCMSeriesFileNames(str(folder), best))
    _check_dicom_files(folder, files)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = reader.Execute()
    modality = None
    if reader.HasMetaDataKey(0, "0008|0060"):
        modality = reader.GetMetaData(0, "0008|0060").strip() or None
    return image, modality, files


def _gzip_complete(stream) -> bool:
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return d.eof
        d.decompress(chunk, 0)
        if d.eof:
            return True


def _check_complete(path: Path, expected_bytes: int) -> None:
    """SimpleITK silently zero-fills some truncated files; refuse them by checking the data is all there."""
    name = path.name.lower()
    if name.endswith(".gz"):
        with open(path, "rb") as f:
            if not _gzip_complete(f):
                raise VolumeError(f"{path}: file is truncated (the compressed stream ends early)")
    elif name.endswith(".nii") and path.stat().st_size < 352 + expected_bytes:
        raise VolumeError(f"{path}: file is truncated ({path.stat().st_size} bytes for {expected_bytes} bytes of voxels)")
    elif name.endswith(".nrrd"):
        with open(path, "rb") as f:
            header = b""
            while not header.endswith(b"\n\n"):
                line = f.readline()
                if not line:
                    return  # detached data file: SimpleITK reports problems itself
                header += line
            fields = header.decode("latin-1").lower()
            if "data file:" in fields or "datafile:" in fields:
                return
            if "encoding: gzip" in fields or "encoding: gz" in fields:
                if not _gzip_complete(f):
                    raise VolumeError(f"{path}: file is truncated (the compressed data ends early)")
            elif "encoding: raw" in fields and path.stat().st_size - len(header) < expected_bytes:
                raise VolumeError(f"{path}: file is truncated (voxel data shorter than declared)")


def _head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of the file's content (decompressed for gzip files)."""
    import gzip
    import zlib

    with open(path, "rb") as f:
        head = f.read(n)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                return f.read(n)
        except (OSError, EOFError, zlib.error):
            return b""
    return head


def _check_signature(path: Path) -> None:
    """A file must be what its extension says: ITK otherwise picks a reader by content (a PNG named .nrrd goes to
    libpng, which prints to stderr) or zero-fills. Checked here: NRRD magic, NIfTI header size."""
    name = path.name.lower()
    if name.endswith(".nrrd"):
        if not _head(path, 4) == b"NRRD":
            raise VolumeError(f"{path}: not a NRRD file (it does not start with 'NRRD')")
    elif name.endswith((".nii", ".nii.gz")):
        head = _head(path, 4)
        sizes = {int.from_bytes(head, "little"), int.from_bytes(head, "big")} if len(head) == 4 else set()
        if not sizes & {348, 540}:
            raise VolumeError(f"{path}: not a NIfTI file (no NIfTI header)")


def _check_declared_size(path: Path):
    """Refuse absurd declared sizes and incomplete data before any voxel is read; -> the header reader."""
    import SimpleITK as sitk

    _check_signature(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    size = reader.GetSize()
    n = int(np.prod(size, dtype=np.int64)) * max(1, reader.GetNumberOfComponents())
    if n > MAX_VOXELS:
        raise VolumeError(f"{path}: declared size {size} is too large (more than {MAX_VOXELS} voxels)")
    if path.stat().st_size < 64:
        raise VolumeError(f"{path}: file is too small to be an image")
    bytes_per = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    itemsize = {"8-bit": 1, "16-bit": 2, "32-bit": 4, "64-bit": 8}
    width = next((v for k, v in itemsize.items() if k in bytes_per), 1)
    _check_complete(path, n * width)
    return reader


def _itk_message(exc: RuntimeError) -> str:
    lines = str(exc).strip().splitlines()
    detail = next((ln for ln in lines if "ERROR" in ln or "rror" in ln), lines[-1] if lines else "")
    return detail.strip()[:200]


def read_header(path: str | Path, kind: str = "image") -> tuple[tuple[int, int, int], np.ndarray]:
    """(size (i, j, k), index-to-RAS affine) from the header only, after the checks ``read_image`` makes before
    reading voxels (content matches the extension, declared size, data complete, one channel, 3D)."""
    path = Path(path)
    if not path.is_file():
        raise VolumeError(f"{path}: no such file")
    try:
        reader = _check_declared_size(path)
    except RuntimeError as exc:
        raise VolumeError(f"{path}: cannot read as {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                          f"({_itk_message(exc)})") from None
    if reader.GetNumberOfComponents() != 1:
        raise VolumeError(f"{path}: {kind} has {reader.GetNumberOfComponents()} components per voxel")
    size, dim = reader.GetSize(), reader.GetDimension()
    if dim not in (3, 4) or (dim == 4 and size[3] != 1):
        raise VolumeError(f"{path}: {kind} is {dim}-D with size {size}; a 3D volume is required")
    spacing = np.array(reader.GetSpacing()[:3], dtype=float)
    direction = np.array(reader.GetDirection(), dtype=float).reshape(dim, dim)[:3, :3]
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing[None, :]
    lps[:3, 3] = reader.GetOrigin()[:3]
    return (int(size[0]), int(size[1]), int(size[2])), LPS_TO_RAS @ lps


def _nifti_nonfinite(path: Path) -> int:
    """ITK's NIfTI reader turns NaN / Inf voxels into 0 without a word; count them with nibabel (float files)."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        if not np.issubdtype(img.get_data_dtype(), np.floating):
            return 0
        data = np.asanyarray(img.dataobj.get_unscaled())
    except Exception as exc:  # ITK read it; nibabel not: leave the verdict to ITK
        log.debug("%s: nibabel cannot check for NaN / Inf (%s)", path, exc)
        return 0
    return int(data.size - np.count_nonzero(np.isfinite(data)))


def read_image(path: str | Path, modality: str | None = None, allow_nonfinite: bool = False,
               kind: str = "image") -> Volume:
    """Read a 3D image (file or DICOM series folder) -> Volume. Raises VolumeError with a clear message."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise VolumeError(f"{path}: no such file or folder")
    dicom_files: list[str] = []
    file_modality = None
    try:
        if path.is_dir():
            image, file_modality, dicom_files = _read_dicom_series(path)
        else:
            _check_declared_size(path)
            image = sitk.ReadImage(str(path))
            if image.HasMetaDataKey("0008|0060"):
                file_modality = image.GetMetaData("0008|0060").strip() or None
    except VolumeError:
        raise
    except RuntimeError as exc:  # SimpleITK reports unreadable / truncated files this way
        first = str(exc).strip().splitlines()
        detail = next((ln for ln in first if "ERROR" in ln or "rror" in ln), first[-1] if first else "")
        article = "an" if kind[0] in "aeiou" else "a"
        raise VolumeError(f"{path}: cannot read as {article} {kind} ({detail.strip()[:200]})") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise VolumeError(f"{path}: {kind} has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                          "a single-channel (grey-level) image is required")
    dim = image.GetDimension()
    if dim == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    elif dim != 3:
        raise VolumeError(f"{path}: {kind} is {dim}-D with size {image.GetSize()}; a 3D volume is required")
    array = sitk.GetArrayFromImage(image)
    size, affine = image.GetSize(), affine_from_sitk(image)
    del image  # a 512 x 512 x 300 CT: ITK's copy would add 150 MB to the peak of the float conversion below
    if kind == "image":
        bad = 0
        if not np.issubdtype(array.dtype, np.integer):  # integers cannot be NaN; skip the full-volume check
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if not bad and path.name.lower().endswith((".nii", ".nii.gz")):
            bad = _nifti_nonfinite(path)
        if bad and not allow_nonfinite:
            raise VolumeError(f"{path}: image contains {bad} NaN or infinite voxels")
        array = array.astype(np.float32, copy=False)
    if min(array.shape) < 1:
        raise VolumeError(f"{path}: {kind} is empty (size {size})")
    mod = (modality or file_modality or (guess_modality(array) if kind == "image" else "SEG")).upper()
    return Volume(array, affine, mod, str(path), bool(dicom_files), dicom_files)


def geometry_text(shape_ijk: tuple[int, int, int], affine: np.ndarray) -> str:
    """One-line geometry: size (i, j, k), spacing mm, origin (RAS mm) and direction (RAS columns of i, j, k)."""
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = affine[:3, :3] / np.where(spacing > 0, spacing, 1.0)[None, :]

    def fmt(values, digits: int) -> str:
        return "(" + ", ".join(f"{round(float(v), digits) + 0.0:g}" for v in np.ravel(values)) + ")"

    return (f"size {tuple(int(n) for n in shape_ijk)}, spacing {fmt(spacing, 4)} mm, "
            f"origin RAS {fmt(affine[:3, 3], 3)} mm, direction {fmt(direction.T, 3)}")


def label_dtype(top: int) -> type:
    """The narrowest of uint8 / int16 / int32 that holds label values 0..``top`` (torch takes all three). A
    512 x 512 x 300 label map as int32 held 315 MB, as uint8 79 MB (docs/RESULTS.md, "Memory")."""
    return np.uint8 if top < 256 else np.int16 if top < 1 << 15 else np.int32


def read_label(path: str | Path, like: Volume | None = None) -> Volume:
    """Read an integer label map. With ``like`` (its image) the label must describe the image's voxel grid: the
    same header geometry, or the same physical voxels with another axis order / direction (a NIfTI label beside a
    DICOM series), which is re-indexed exactly onto the image grid (logged at INFO). Anything else (another
    extent, spacing or origin: image voxel centres more than 0.1 voxel from label voxel centres) is a VolumeError
    naming both geometries."""
    vol = read_image(path, kind="label map")
    arr = vol.array
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(np.abs(arr - np.round(arr)) > 1e-3):
            raise VolumeError(f"{path}: label map has non-integer values")
        arr = np.round(arr)
    if arr.min() < 0:
        raise VolumeError(f"{path}: label map has negative values")
    vol.array = arr.astype(label_dtype(int(arr.max(initial=0))), copy=False)
    if like is None or vol.same_geometry(like, tol=1e-2):
        return vol
    mapping = grid_mapping(vol.shape_ijk, vol.affine, like.shape_ijk, like.affine)
    if mapping is None:
        raise VolumeError(f"{path}: label map geometry ({geometry_text(vol.shape_ijk, vol.affine)}) does not match its "
                          f"image ({geometry_text(like.shape_ijk, like.affine)}): the image's voxel centres are not "
                          "the label map's (another extent, spacing, origin or direction)")
    perm, flip = mapping
    log.info("%s: label map header differs from its image's but describes the same voxels (image axis i, j, k = "
             "label axis %s, reversed %s); re-indexed exactly onto the image grid", path,
             ", ".join("ijk"[b] for b in perm), ", ".join("ijk"[a] for a in range(3) if flip[a]) or "none")
    return Volume(onto_grid(vol.array, perm, flip), like.affine.copy(), vol.modality, vol.source)


def read_mask(path: str | Path, like: Volume, value: int | None = None, what: str | None = None) -> np.ndarray:
    """A region from a label file on ``like``'s grid: the voxels equal to ``value``, or every labelled voxel.
    An empty region is a VolumeError (``what`` names the file in the message; default: its path)."""
    lab = read_label(path, like=like).array
    what = what or str(path)
    if value is not None:
        mask = lab == value
        if not mask.any():
            raise VolumeError(f"{what}: no voxel has label value {value}")
        return mask
    if not lab.any():
        raise VolumeError(f"{what}: the mask is empty")
    return lab > 0


def volume_from_array(array_kji: np.ndarray, affine: np.ndarray | None = None, modality: str | None = None) -> Volume:
    array = np.asarray(array_kji)
    if array.ndim != 3:
        raise VolumeError(f"array has shape {array.shape}; a 3D [k, j, i] array is required")
    affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
    if affine.shape != (4, 4) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise VolumeError("affine must be an invertible 4x4 index-to-RAS matrix")
    arr = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise VolumeError("array contains NaN or infinite voxels")
    return Volume(arr, affine, (modality or guess_modality(arr)).upper())


def write_array(array_kji: np.ndarray, like: Volume, path: str | Path) -> Path:
    """Write an array in ``like``'s exact geometry (size, spacing, origin, direction). Atomic."""
    import SimpleITK as sitk

    path = Path(path)
    if array_kji.shape != like.array.shape:
        raise VolumeError(f"array shape {array_kji.shape} does not match the image {like.array.shape}")
    if path.suffix.lower() == ".dcm" or path.is_dir():
        raise VolumeError(f"{path}: write DICOM SEG with write_dicom_seg(); give .nii.gz / .nrrd / .seg.nrrd here")
    if not path.name.endswith((".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")):
        raise VolumeError(f"{path}: unsupported output format; use .nii.gz, .nii, .nrrd, .seg.nrrd or .mha")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_kji))
    spacing, origin, direction = sitk_geometry_from_affine(like.affine)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return atomic_write(path, lambda tmp: sitk.WriteImage(image, tmp, useCompression=True))


def write_label(mask_kji: np.ndarray, like: Volume, path: str | Path) -> Path:
    return write_array(np.asarray(mask_kji).astype(np.uint8 if mask_kji.max(initial=0) < 256 else np.uint16), like, path)

"""SynthSeg-style synthetic images from label maps (Billot et al., "SynthSeg", Medical Image Analysis 2023).

Every label value (background 0 and unnamed tissue classes included) gets a random mean intensity and a small
random spread; a smooth multiplicative bias field, a Gaussian blur, a thick-slice simulation (down- then
up-sampling along one axis) and Gaussian noise follow; the result is rescaled to [0, 1] by its 0.5 / 99.5
percentiles. A model trained on such images learns shapes, not one scanner's contrast.

Arrays are ``[k, j, i]``; ``spacing`` is ``(si, sj, sk)`` mm as ``Case.canon_spacing`` / ``Volume.spacing``.
Speed (2 CPU cores): a whole 256^3 map takes about 3 s; ``synthesize_slices`` synthesises only a slab around the
wanted slices (about 0.3 s for one slice of a 256^3 map), and ``load_label_map_case`` crops maps to their
foreground. Callers may also pass any crop of a label map to ``synthesize``.

The SynthSeg training label maps (``shared/training/synthseg_label_maps``: 20 maps ``training_seg_XX.nii.gz``,
256^3, 1 mm, one ``labels.json``) name 32 brain structures; their other values are unnamed extra-cerebral /
extra tissue classes, which get intensities but are never a target (``LabelMapCase.tissue_values``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .geometry import Orientation, extract_slice, plane_axes
from .volume import VolumeError, read_label

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthParams:
    """Ranges the random draws come from (each draw uniform within its range)."""

    background_dark_prob: float = 0.7             # background mean from dark_background, else from (0, 1)
    dark_background: tuple[float, float] = (0.0, 0.15)
    std: tuple[float, float] = (0.0, 0.05)        # per-label spread around its mean
    bias_std: tuple[float, float] = (0.0, 0.3)    # std of the log bias field
    bias_grid: tuple[int, int] = (3, 7)           # control points per axis of the low-res bias field
    blur_mm: tuple[float, float] = (0.0, 1.0)     # Gaussian sigma per axis, mm
    thick_prob: float = 0.7                       # chance of a thick-slice simulation
    thick_factor: tuple[float, float] = (1.0, 5.0)
    noise_std: tuple[float, float] = (0.0, 0.04)  # share of the intensity range
    percentiles: tuple[float, float] = (0.5, 99.5)


DEFAULT_PARAMS = SynthParams()
PERCENTILE_SAMPLE = 2**21   # voxels the final percentiles are taken on (evenly strided)
LUT_LIMIT = 1 << 20         # label values below this: look-up tables; above: np.unique


def _lookup(label: np.ndarray) -> tuple[np.ndarray, int]:
    """(index array into a per-value table, table size): the label itself when its values are small."""
    if label.size == 0:
        raise VolumeError("label map is empty")
    if not np.issubdtype(label.dtype, np.integer) or int(label.min()) < 0:
        raise VolumeError("label map must hold non-negative integers")
    top = int(label.max())
    if top < LUT_LIMIT:
        return label, top + 1
    values, inverse = np.unique(label, return_inverse=True)
    return inverse.reshape(label.shape), len(values)


def _bias_field(shape: tuple[int, ...], rng: np.random.Generator, p: SynthParams) -> np.ndarray:
    import torch
    from torch.nn import functional as F

    grid = [1 if n == 1 else int(rng.integers(p.bias_grid[0], p.bias_grid[1] + 1)) for n in shape]
    low = rng.normal(0.0, rng.uniform(*p.bias_std), grid).astype(np.float32)
    up = F.interpolate(torch.from_numpy(low)[None, None], size=tuple(shape), mode="trilinear", align_corners=True)
    return np.exp(up[0, 0].numpy())


def _thick_slices(img: np.ndarray, axis: int, factor: float) -> np.ndarray:
    """Average ~``factor`` voxels into one along ``axis`` (a slice profile), then interpolate back (linear)."""
    import torch
    from scipy.ndimage import gaussian_filter1d
    from torch.nn import functional as F

    n = img.shape[axis]
    gaussian_filter1d(img, sigma=factor / 2.355, axis=axis, output=img, truncate=3.0)  # FWHM = slice thickness
    low_size = list(img.shape)
    low_size[axis] = max(2, int(round(n / factor)))
    t = torch.from_numpy(img)[None, None]
    t = F.interpolate(t, size=tuple(low_size), mode="trilinear", align_corners=True)
    t = F.interpolate(t, size=img.shape, mode="trilinear", align_corners=True)
    return np.ascontiguousarray(t[0, 0].numpy())


def left_right_groups(names: dict[int, str]) -> list[tuple[int, int]]:
    """Pairs of values whose names differ only by "left" / "right" (e.g. left / right putamen): in SynthSeg the
    two sides of a structure share one intensity distribution, as in a real scan."""
    by_name = {n.lower(): v for v, n in names.items()}
    pairs = []
    for name, v in by_name.items():
        if "left" in name.split():
            other = by_name.get(" ".join("right" if w == "left" else w for w in name.split()))
            if other is not None:
                pairs.append((v, other))
    return sorted(pairs)


def synthesize(label_kji: np.ndarray, spacing: np.ndarray, rng: np.random.Generator,
               params: SynthParams = DEFAULT_PARAMS, groups: Sequence[Sequence[int]] = (),
               adjust_means: Callable[[np.ndarray, np.random.Generator], None] | None = None) -> np.ndarray:
    """A synthetic image of a label map: float32 in [0, 1], the label map's shape (module docstring). Values in
    one of ``groups`` (e.g. ``left_right_groups(names)``) share one mean and spread; all others are independent.
    ``adjust_means(means, rng)`` may then set some values' means in place (indexed by label value; e.g. a tumour's
    sub-regions against the white matter, ``tumour_synth.sequence_contrast``)."""
    from scipy.ndimage import gaussian_filter

    p = params
    label = np.asarray(label_kji)
    if label.ndim != 3:
        raise VolumeError(f"label map has shape {label.shape}; a 3D [k, j, i] array is required")
    spacing_kji = np.asarray(spacing, dtype=float).reshape(3)[::-1]
    if np.any(spacing_kji <= 0):
        raise VolumeError(f"spacing {tuple(spacing)} must be positive")
    index, n_values = _lookup(label)

    means = rng.uniform(0.0, 1.0, n_values).astype(np.float32)
    if label.min() == 0 and rng.random() < p.background_dark_prob:
        means[0] = rng.uniform(*p.dark_background)       # index 0 is value 0 in both look-up modes
    stds = rng.uniform(*p.std, n_values).astype(np.float32)
    if groups and n_values == int(label.max()) + 1:       # direct look-up: table index = label value
        for group in groups:
            members = [v for v in group if 0 <= v < n_values]
            if members:
                means[members], stds[members] = means[members[0]], stds[members[0]]
    if adjust_means is not None:
        if n_values != int(label.max()) + 1:
            raise VolumeError("adjust_means needs label values below 2**20 (a look-up by value)")
        adjust_means(means, rng)
    img = rng.standard_normal(label.shape, dtype=np.float32)
    img *= stds[index]
    img += means[index]

    img *= _bias_field(label.shape, rng, p)

    sigma = rng.uniform(*p.blur_mm, 3) / spacing_kji
    sigma[(sigma < 0.2) | (np.array(label.shape) == 1)] = 0.0
    if sigma.any():
        gaussian_filter(img, sigma=sigma, output=img, truncate=3.0)

    axes = [a for a in range(3) if label.shape[a] >= 8]
    if axes and rng.random() < p.thick_prob:
        axis, factor = int(rng.choice(axes)), float(rng.uniform(*p.thick_factor))
        if factor > 1.1:
            img = _thick_slices(img, axis, factor)

    flat = img.reshape(-1)[:: max(1, img.size // PERCENTILE_SAMPLE)]
    lo, hi = np.percentile(flat, p.percentiles)
    noise = rng.uniform(*p.noise_std) * float(hi - lo)
    if noise > 0:
        img += noise * rng.standard_normal(img.shape, dtype=np.float32)
        flat = img.reshape(-1)[:: max(1, img.size // PERCENTILE_SAMPLE)]
        lo, hi = np.percentile(flat, p.percentiles)
    if hi - lo < 1e-6:
        return np.zeros(label.shape, np.float32)
    img -= np.float32(lo)
    img /= np.float32(hi - lo)
    np.clip(img, 0.0, 1.0, out=img)
    return img


def synthesize_slices(label_kji: np.ndarray, spacing: np.ndarray, rng: np.random.Generator, plane: str,
                      indices: list[int], params: SynthParams = DEFAULT_PARAMS, margin: int = 16,
                      groups: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """Synthetic 2D slices ``(len(indices), rows, cols)`` of a *canonical* label map in ``plane`` (as
    ``geometry.extract_slice``), synthesised on a slab of ``margin`` slices beyond the wanted ones only (so blur
    and thick slices act as in the whole volume; the bias field and the final percentiles are the slab's). One draw
    of the random contrast for all the slices."""
    label = np.asarray(label_kji)
    if not len(indices):
        raise VolumeError("no slice indices given")
    fixed, _, _ = plane_axes(plane)
    array_axis = 2 - fixed
    n = label.shape[array_axis]
    if min(indices) < 0 or max(indices) >= n:
        raise VolumeError(f"slice indices {min(indices)}..{max(indices)} outside 0..{n - 1} ({plane})")
    start, stop = max(0, min(indices) - margin), min(n, max(indices) + margin + 1)
    slab = synthesize(np.take(label, np.arange(start, stop), axis=array_axis), spacing, rng, params, groups)
    return np.stack([extract_slice(slab, plane, int(i) - start) for i in indices])


@dataclass
class LabelMapCase:
    """A label map without an image, canonically oriented (as ``Case.canon_label``), for ``synthesize``."""

    name: str
    patient: str
    source: str
    canon_label: np.ndarray              # [k, j, i] uint16 / int32, canonical orientation (cropped if asked)
    canon_spacing: np.ndarray            # (si, sj, sk) mm
    canon_affine: np.ndarray             # index -> RAS of canon_label
    names: dict[int, str]                # named values present: the possible targets
    tissue_values: list[int] = field(default_factory=list)  # unnamed values present: intensity, never a target
    groups: list[tuple[int, int]] = field(default_factory=list)  # left / right pairs sharing an intensity


def _read_names(labels_json: Path) -> dict[int, str]:
    from .datalist import _parse_labels

    if not labels_json.is_file():
        raise VolumeError(f"{labels_json}: no labels.json (value -> name) for the label map")
    try:
        return _parse_labels(json.loads(labels_json.read_text()), str(labels_json))
    except json.JSONDecodeError as exc:
        raise VolumeError(f"{labels_json}: invalid JSON ({exc})") from None


def _label_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".nii.gz", ".nii", ".nrrd", ".mha")))


def load_label_map_case(folder_or_file: str | Path, labels_json: str | Path | None = None,
                        crop: bool = True, crop_margin: int = 8) -> LabelMapCase:
    """One label map (a file, or a folder holding exactly one label map file) with its names (``labels_json``,
    default ``labels.json`` beside it), reoriented to canonical and, with ``crop``, cropped to the bounding box of
    its non-zero voxels plus ``crop_margin``. Patient id: the file's stem (one map = one subject)."""
    path = Path(folder_or_file)
    if path.is_dir():
        files = _label_files(path)
        if len(files) != 1:
            raise VolumeError(f"{path}: holds {len(files)} label map files; give one file, or use "
                              "load_label_map_cases() for the whole folder")
        path = files[0]
    names = _read_names(Path(labels_json) if labels_json is not None else path.parent / "labels.json")
    vol = read_label(path)
    orient = Orientation.from_affine(vol.affine, vol.shape_ijk)
    canon = orient.array_to_canonical(vol.array)
    affine = orient.canonical_affine(vol.affine)
    if crop:
        nz = [np.flatnonzero(canon.any(axis=tuple(b for b in range(3) if b != a))) for a in range(3)]
        if all(x.size for x in nz):
            lo = [max(0, int(x[0]) - crop_margin) for x in nz]
            hi = [min(canon.shape[a], int(x[-1]) + crop_margin + 1) for a, x in enumerate(nz)]
            canon = canon[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            shift = np.eye(4)
            shift[:3, 3] = lo[::-1]  # array (k, j, i) offsets -> ijk
            affine = affine @ shift
    top = int(canon.max(initial=0))
    canon = np.ascontiguousarray(canon, dtype=np.uint16 if top < 1 << 16 else np.int32)
    present = [int(v) for v in np.flatnonzero(np.bincount(canon.ravel())) if v > 0] if top < 1 << 20 else \
        sorted(int(v) for v in np.unique(canon) if v > 0)
    named = {v: names[v] for v in present if v in names}
    if not named:
        raise VolumeError(f"{path}: none of the label map's values is named in its labels.json")
    stem = path.name.split(".")[0]
    return LabelMapCase(stem, stem, str(path), canon, np.linalg.norm(affine[:3, :3], axis=0), affine, named,
                        [v for v in present if v not in names], left_right_groups(named))


def load_label_map_cases(folder: str | Path, labels_json: str | Path | None = None,
                         crop: bool = True) -> list[LabelMapCase]:
    """Every label map file of ``folder`` (sharing ``labels_json``, default ``folder/labels.json``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VolumeError(f"{folder}: no such folder")
    files = _label_files(folder)
    if not files:
        raise VolumeError(f"{folder}: no label map files (.nii.gz, .nii, .nrrd, .mha)")
    lj = Path(labels_json) if labels_json is not None else folder / "labels.json"
    return [load_label_map_case(f, lj, crop=crop) for f in files]


def synthetic_case(lm: LabelMapCase, rng: np.random.Generator, params: SynthParams = DEFAULT_PARAMS,
                   modality: str = "MR", body_part: str = "brain", strict_names: bool = True):
    """A ``cases.Case`` with one synthetic image of ``lm`` (whole map: ~3 s for 256^3); the unnamed tissue values
    are 0 in its label map (never a target) but shaped the image. Draw again for another contrast."""
    from .cases import Case
    from .datalist import CaseSpec
    from .vocabulary import VocabularyError, resolve_all
    from .volume import Volume

    image = synthesize(lm.canon_label, lm.canon_spacing, rng, params, lm.groups)
    lut = np.zeros(int(lm.canon_label.max(initial=0)) + 1, np.int32)
    for v in lm.names:
        lut[v] = v
    label = lut[lm.canon_label]
    values = sorted(lm.names)
    try:
        concepts = dict(zip(values, resolve_all([lm.names[v] for v in values], strict=strict_names)))
    except VocabularyError as exc:
        raise VocabularyError(f"label map {lm.name}: {exc}") from None
    spec = CaseSpec(lm.name, Path(lm.source), Path(lm.source), dict(lm.names), modality, body_part,
                    patient=lm.patient, meta={"synthetic": "SynthSeg-style image of a label map"})
    return Case(spec, Volume(image, lm.canon_affine.copy(), modality, lm.source),
                Volume(label, lm.canon_affine.copy(), "SEG", lm.source), image, label,
                lm.canon_spacing.copy(), concepts, modality)

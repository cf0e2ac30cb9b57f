"""Loaded, checked, normalised and canonically oriented training / evaluation cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .datalist import CaseSpec
from .geometry import Orientation
from .intensity import encoding_from_note, normalise
from .vocabulary import Concept, VocabularyError, resolve_all
from .volume import Volume, VolumeError, read_image, read_label

log = logging.getLogger(__name__)


@dataclass
class Case:
    spec: CaseSpec
    image: Volume                 # original geometry
    label: Volume
    canon_image: np.ndarray       # [k, j, i] normalised to [0, 1], canonical orientation
    canon_label: np.ndarray       # [k, j, i] int32, canonical orientation
    canon_spacing: np.ndarray     # (si, sj, sk) mm
    concepts: dict[int, Concept]  # label value -> concept
    modality: str


def label_values(label_kji: np.ndarray) -> list[int]:
    """Sorted label values above 0 present in a non-negative integer label map (a histogram: no sort of the
    voxels, 20x faster than ``np.unique`` on a 240 x 240 x 155 map)."""
    top = int(label_kji.max(initial=0))
    if top < 1 << 20:
        return [int(v) for v in np.flatnonzero(np.bincount(label_kji.ravel(), minlength=1)) if v > 0]
    return sorted(int(v) for v in np.unique(label_kji) if v > 0)


def load_case(spec: CaseSpec, strict_names: bool = True) -> Case:
    """Read, check, normalise and reorient one case. Single-slice (2D) images load as 3D volumes of one slice
    (the header's slice spacing is kept; nothing divides by the extent of 1)."""
    image = read_image(spec.image, modality=spec.modality)
    label = read_label(spec.label, like=image)
    present = label_values(label.array)
    if not present:
        raise VolumeError(f"{spec.label}: label map is empty (no voxel above 0)")
    missing = [v for v in present if v not in spec.labels]
    if missing:
        raise VolumeError(f"{spec.label}: label values {missing[:10]} have no name in the case's labels mapping")
    values = [v for v in spec.labels if v in present]
    try:
        concepts = dict(zip(values, resolve_all([spec.labels[v] for v in values], strict=strict_names)))
    except VocabularyError as exc:
        raise VocabularyError(f"case {spec.name}: {exc}") from None
    orient = Orientation.from_affine(image.affine, image.shape_ijk)
    # a meta.json note "display-scaled" states the CT encoding; otherwise intensity.ct_encoding decides from the data
    encoding = encoding_from_note(spec.meta.get("intensity")) if image.modality == "CT" else None
    canon_img = normalise(orient.array_to_canonical(image.array), image.modality, encoding=encoding)
    canon_lab = np.ascontiguousarray(orient.array_to_canonical(label.array))
    spacing = np.linalg.norm(orient.canonical_affine(image.affine)[:3, :3], axis=0)
    return Case(spec, image, label, canon_img, canon_lab, spacing, concepts, image.modality)

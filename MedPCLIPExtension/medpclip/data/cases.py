"""Loaded, checked, normalised and canonically oriented training / evaluation cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .datalist import CaseSpec
from .geometry import Orientation
from .intensity import normalise
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


def load_case(spec: CaseSpec, strict_names: bool = True) -> Case:
    image = read_image(spec.image, modality=spec.modality)
    label = read_label(spec.label, like=image)
    present = sorted(int(v) for v in np.unique(label.array) if v > 0)
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
    canon_img = normalise(orient.array_to_canonical(image.array), image.modality)
    canon_lab = np.ascontiguousarray(orient.array_to_canonical(label.array))
    spacing = np.linalg.norm(orient.canonical_affine(image.affine)[:3, :3], axis=0)
    return Case(spec, image, label, canon_img, canon_lab, spacing, concepts, image.modality)

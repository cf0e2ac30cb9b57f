"""Synthetic training cases from label maps (SynthSeg-style): every label gets a random intensity, then bias
field, blur, thick slices and noise (``medpclip.data.synth``). The model learns shapes, not one scanner."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..data.cases import Case
from ..data.datalist import CaseSpec
from ..data.geometry import Orientation
from ..data.vocabulary import resolve_all
from ..data.volume import VolumeError, read_label

log = logging.getLogger(__name__)
CROP_MARGIN = 4  # voxels kept around the named structures


def synthetic_cases(folder: str | Path, per_map: int, seed: int, modality: str = "MR",
                    body_part: str = "brain", tumours: int = 0, tumour_contrast: str = "random") -> list[Case]:
    """``per_map`` synthetic images of every label map in ``folder`` (``*.nii.gz`` + ``labels.json``); only
    the named label values are targets, the others are tissue that gets an intensity. ``tumours`` more images
    per map have a synthetic brain tumour drawn in (``medpclip.data.tumour_synth``; cases ``synth_tumour_*``,
    whose only targets are the tumour's sub-regions: the healthy images already teach the brain's structures).
    ``tumour_contrast`` "random": the sub-regions get random intensities like every label; "sequence": each tumour
    image is FLAIR- or T1c-like, its sub-regions set against the white matter as on that sequence."""
    from ..data.synth import synthesize
    from ..data.tumour_synth import CONTRASTS

    if tumour_contrast not in CONTRASTS:  # before any label map is read
        raise ValueError(f"unknown tumour contrast {tumour_contrast!r}; use one of {CONTRASTS}")
    folder = Path(folder)
    names_file = folder / "labels.json"
    if not names_file.is_file():
        raise VolumeError(f"{folder}: a synthetic-image source needs label maps and labels.json")
    names = {int(k): v for k, v in json.loads(names_file.read_text()).items()}
    concepts = dict(zip(names, resolve_all(list(names.values()))))
    rng = np.random.default_rng(seed)
    cases = []
    for path in sorted(folder.glob("*.nii*")):
        label = read_label(path)
        orient = Orientation.from_affine(label.affine, label.shape_ijk)
        canon = np.ascontiguousarray(orient.array_to_canonical(label.array))
        spacing = np.linalg.norm(orient.canonical_affine(label.affine)[:3, :3], axis=0)
        named = np.isin(canon, list(names))
        ks, js, is_ = np.nonzero(named)
        sl = tuple(slice(max(0, int(a.min()) - CROP_MARGIN), int(a.max()) + CROP_MARGIN + 1) for a in (ks, js, is_))
        canon = np.ascontiguousarray(canon[sl])
        targets = np.where(np.isin(canon, list(names)), canon, 0).astype(np.int32)
        stem = path.name.split(".")[0]
        for n in range(per_map):
            image = synthesize(canon, spacing, rng).astype(np.float32)
            spec = CaseSpec(f"synth_{stem}_{n}", path, path, names, modality, body_part, patient=f"synth_{stem}")
            cases.append(Case(spec, label, label, image, targets, spacing,
                              {v: c for v, c in concepts.items() if (targets == v).any()}, modality))
        for n in range(tumours):
            cases.append(_tumour_case(canon, spacing, names, rng, f"{stem}_{n}", label, modality, body_part,
                                      tumour_contrast))
        log.info("synthetic: %s -> %d images (%d with a tumour) of %s", path.name, per_map + tumours, tumours,
                 canon.shape)
    return cases


def _tumour_case(canon: np.ndarray, spacing: np.ndarray, names: dict[int, str], rng: np.random.Generator,
                 tag: str, label_volume, modality: str, body_part: str, contrast: str) -> Case:
    """One synthetic image of ``canon`` with a tumour drawn in; its targets are the tumour's sub-regions."""
    from ..data.synth import synthesize
    from ..data.tumour_synth import SEQUENCE_CONTRASTS, insert_tumour, sequence_contrast, tumour_values

    host = [v for v, n in names.items() if "cerebral white matter" in n.lower()]
    drawn: dict[int, str] = {}
    values = tumour_values(canon)
    for _ in range(5):  # a draw in a thin strip of white matter can leave every sub-region under MIN_VOXELS
        with_tumour, drawn = insert_tumour(canon, spacing, rng, host or list(names), list(names), values)
        if drawn:
            break
    if not drawn:
        raise VolumeError(f"{label_volume.source}: no synthetic tumour could be drawn in five tries")
    adjust, sequence = None, None
    if contrast == "sequence":
        sequence = str(rng.choice(sorted(SEQUENCE_CONTRASTS)))
        adjust = sequence_contrast(values, host or list(names), sequence)
    image = synthesize(with_tumour, spacing, rng, adjust_means=adjust).astype(np.float32)
    targets = np.where(np.isin(with_tumour, list(drawn)), with_tumour, 0).astype(np.int32)
    concepts = dict(zip(drawn, resolve_all(list(drawn.values()))))
    source = Path(label_volume.source)
    spec = CaseSpec(f"synth_tumour_{tag}", source, source, drawn, modality, body_part, patient=f"synth_tumour_{tag}",
                    meta={"synthetic": "tumour drawn into a label map", "sequence": sequence or "random contrast"})
    return Case(spec, label_volume, label_volume, image, targets, spacing, concepts, modality)

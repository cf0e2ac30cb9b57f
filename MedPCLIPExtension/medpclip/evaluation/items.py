"""What a run evaluates: the cases of its data roots, and per case the (slice, structure) items and 3D structures
on the evaluated slices (``data.holdout.eval_slices``: the trained model never sees them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.cases import Case
from ..data.datalist import CaseSpec, load_cases
from ..data.geometry import VolumeGeometry, extract_slice
from ..data.holdout import eval_slices
from ..data.volume import VolumeError

log = logging.getLogger(__name__)


# -- cases ----------------------------------------------------------------------------------------------------
def _has_image(folder: Path) -> bool:
    return any(p.is_file() and p.name.split(".")[0] == "image" for p in folder.iterdir())


def walk_cases(root: str | Path) -> list[CaseSpec]:
    """Cases of one data root: a datalist JSON, a case folder, or a folder whose sub-folders are case folders or
    *groups* of case folders (``/work/shared/training/btcv_2d/ABD_001_100/``): a sub-folder without an image is
    walked one level down; one holding neither (``vocabulary/``, label maps only) is skipped.

    Each case is parsed by ``data.datalist.load_cases`` (so meta.json / patient handling stays there). Used by the
    patient-level mode only: ``data.datalist`` deliberately treats a group folder as a root of its own (so that
    ``Resources/SampleData/heldout_patients`` stays out of a training or slice-level run on ``Resources/SampleData``);
    selecting by patient id makes walking into groups safe."""
    root = Path(root)
    if not root.exists():
        raise VolumeError(f"{root}: no such datalist file or folder")
    if root.is_file() or _has_image(root):
        return load_cases(root)
    specs: list[CaseSpec] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _has_image(sub) or any(q.is_dir() and _has_image(q) for q in sub.iterdir()):
            specs += load_cases(sub)  # a case folder, or a group of case folders (load_cases lists its cases)
        else:
            log.debug("%s: no case folders, skipped", sub)
    if not specs:
        raise VolumeError(f"{root}: no case folders (image.*, label.*, labels.json) found, also one level down")
    return specs


def load_specs(data: str | Path | Sequence[str | Path], walk: bool = False) -> list[CaseSpec]:
    """The cases of one or more data roots, in order (``walk``: ``walk_cases``, else ``data.datalist.load_cases``:
    a group folder is not walked into); the same image twice is kept once, two different cases with one name are
    an error (results are keyed by case name)."""
    roots = [data] if isinstance(data, (str, Path)) else list(data)
    specs: list[CaseSpec] = []
    seen: dict[str, Path] = {}
    for root in roots:
        for spec in (walk_cases(root) if walk else load_cases(root)):
            image = Path(spec.image).resolve()
            if spec.name in seen:
                if seen[spec.name] == image:
                    continue
                raise VolumeError(f"two cases are named {spec.name!r} ({seen[spec.name]} and {image}); "
                                  "case names must be unique across --data roots")
            seen[spec.name] = image
            specs.append(spec)
    return specs


def input_slice(case: Case, canon_idx: int) -> int:
    """The input image's axial slice index of canonical axial slice ``canon_idx`` (what results report)."""
    return VolumeGeometry(case.image.affine, case.image.shape_ijk).input_slice_index("axial", canon_idx)


# -- items ----------------------------------------------------------------------------------------------------
@dataclass
class Item2D:
    idx: int          # canonical axial slice
    value: int        # label value
    concept: Any
    pixels: int


@dataclass
class Item3D:
    value: int
    concept: Any
    box: tuple[int, int, int, int, int, int]   # (x0, y0, k0, x1, y1, k1) canonical, inside the slab
    mid: int
    voxels: int


def spaced_slices(slab: Sequence[int], canon_label: np.ndarray, n: int | None) -> list[int]:
    """At most ``n`` of ``slab``'s slices, evenly spaced over those holding any label (the centres of ``n`` equal
    parts: the first and last labelled slices, where structures are a few pixels, are not picked); all of them
    when ``n`` is None or not smaller."""
    slab = list(slab)
    labelled = [k for k in slab if canon_label[k].any()] or slab
    if n is None or n >= len(labelled):
        return labelled if n is not None else slab
    picks = np.unique(np.floor((np.arange(n) + 0.5) * len(labelled) / n).astype(int))
    return [labelled[i] for i in picks]


def largest_on_spaced_slices(case: Case, n_slices: int, per_slice: int, min_pixels: int):
    """(slice, its 2D label map, value, 2D reference) of the ``per_slice`` largest structures (at least
    ``min_pixels``) on up to ``n_slices`` evenly spaced labelled axial slices: the stroke protocols' items."""
    for idx in spaced_slices(list(range(case.canon_label.shape[0])), case.canon_label, n_slices):
        lab2d = extract_slice(case.canon_label, "axial", idx)
        for v in sorted(case.concepts, key=lambda v: -(lab2d == v).sum())[:per_slice]:
            target = lab2d == v
            if target.sum() >= min_pixels:
                yield idx, lab2d, v, target


def items_2d(case: Case, slices: Sequence[int], min_pixels: int) -> list[Item2D]:
    """Per canonical axial slice, in order, each structure with >= ``min_pixels`` px on it (label order)."""
    items = []
    for idx in slices:
        lab2d = extract_slice(case.canon_label, "axial", idx)
        for value, concept in case.concepts.items():
            px = int((lab2d == value).sum())
            if px >= min_pixels:
                items.append(Item2D(idx, value, concept, px))
    return items


def case_items(case: Case, fraction: float, min_pixels: int, max_trials: int | None,
               max_slices: int | None = None) -> tuple[list[int], list[Item2D], list[Item3D]]:
    """Held-out slab (``fraction`` 1.0: the whole labelled extent), its 2D items (on at most ``max_slices``
    evenly spaced slices) and 3D structures (tight boxes within the slab)."""
    slab = eval_slices(case.canon_label, fraction)
    items2d = items_2d(case, spaced_slices(slab, case.canon_label, max_slices), min_pixels)
    items3d = []
    sub = case.canon_label[slab[0]:slab[-1] + 1]
    for value, concept in case.concepts.items():
        m = sub == value
        if not any(m[i].sum() >= min_pixels for i in range(len(slab))):
            continue
        ks, rows, cols = np.nonzero(m)
        k0, k1 = int(ks.min()) + slab[0], int(ks.max()) + slab[0]
        items3d.append(Item3D(value, concept, (int(cols.min()), int(rows.min()), k0, int(cols.max()), int(rows.max()), k1),
                              (k0 + k1) // 2, int(m.sum())))
    if max_trials is not None:
        keep = set(sorted(range(len(items2d)), key=lambda i: -items2d[i].pixels)[:max_trials])
        items2d = [it for i, it in enumerate(items2d) if i in keep]
        keep = set(sorted(range(len(items3d)), key=lambda i: -items3d[i].voxels)[:max_trials])
        items3d = [it for i, it in enumerate(items3d) if i in keep]
    return slab, items2d, items3d

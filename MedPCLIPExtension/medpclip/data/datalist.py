"""Training / evaluation case lists: MONAI decathlon-style JSON or a folder of case folders.

Datalist JSON: ``{"training": [{"image": path, "label": path, "labels": {value: name}, "modality": "CT",
"body_part": "abdomen", "patient": "P01"}, ...]}`` (paths relative to the JSON file; any further keys are kept in
``CaseSpec.meta``). Folder: each sub-folder (or the folder itself) holds ``image.*``, ``label.*``,
``labels.json`` and optionally ``meta.json`` (``{"modality": ..., "body_part": ..., "patient": ...}``, kept whole
in ``CaseSpec.meta``). Only direct sub-folders are cases: a folder of case folders inside the root (e.g.
``training/btcv_2d``) is a root of its own; give several roots as a list (``load_cases([a, b])``).

``CaseSpec.patient`` is the unit of any train / evaluation split (``holdout.split_by_patient``): from
``meta.json`` / the item's ``patient``, else the case name (one case = one patient).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .volume import VolumeError

log = logging.getLogger(__name__)

# datalist item keys that are not metadata
_ITEM_FILE_KEYS = ("image", "label", "labels")


@dataclass
class CaseSpec:
    name: str
    image: Path
    label: Path
    labels: dict[int, str]
    modality: str | None = None
    body_part: str = "body"
    extra: dict = field(default_factory=dict)
    patient: str = ""                           # "" -> the case name
    meta: dict = field(default_factory=dict)    # the whole meta.json (folders) / the item's other keys (JSON)

    def __post_init__(self) -> None:
        if not self.patient:
            self.patient = self.name


def _find(folder: Path, stem: str) -> Path | None:
    hits = sorted(p for p in folder.iterdir() if p.is_file() and p.name.split(".")[0] == stem)
    return hits[0] if hits else None


def _parse_labels(labels, where: str) -> dict[int, str]:
    if not isinstance(labels, dict) or not labels:
        raise VolumeError(f"{where}: 'labels' must be a non-empty {{value: name}} mapping")
    out = {}
    for k, v in labels.items():
        try:
            value = int(k)
        except (TypeError, ValueError):
            raise VolumeError(f"{where}: label value {k!r} is not an integer") from None
        if value <= 0 or not isinstance(v, str) or not v.strip():
            raise VolumeError(f"{where}: invalid label entry {k!r}: {v!r}")
        out[value] = v.strip()
    return out


def _patient(value, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise VolumeError(f"{where}: 'patient' must be a non-empty string, not {value!r}")
    return str(value).strip()


def _case_from_folder(folder: Path) -> CaseSpec:
    image, label = _find(folder, "image"), _find(folder, "label")
    labels_json = folder / "labels.json"
    if image is None or label is None or not labels_json.is_file():
        raise VolumeError(f"{folder}: a case folder needs image.*, label.* and labels.json")
    try:
        labels = json.loads(labels_json.read_text())
        meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").is_file() else {}
    except json.JSONDecodeError as exc:
        raise VolumeError(f"{folder}: invalid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise VolumeError(f"{folder / 'meta.json'}: must be a JSON object")
    return CaseSpec(folder.name, image, label, _parse_labels(labels, str(labels_json)), meta.get("modality"),
                    meta.get("body_part", "body"), patient=_patient(meta.get("patient"), str(folder / "meta.json")),
                    meta=meta)


def _cases_from_json(path: Path, section: str) -> list[CaseSpec]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VolumeError(f"{path}: invalid datalist JSON ({exc})") from None
    items = data.get(section) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise VolumeError(f"{path}: datalist has no non-empty {section!r} list")
    cases = []
    for n, item in enumerate(items):
        where = f"{path} [{section}][{n}]"
        if not isinstance(item, dict) or "image" not in item or "label" not in item:
            raise VolumeError(f"{where}: each item needs 'image' and 'label'")
        meta = {k: v for k, v in item.items() if k not in _ITEM_FILE_KEYS}
        cases.append(CaseSpec(item.get("name", Path(item["image"]).name.split(".")[0] + f"_{n}"),
                              (path.parent / item["image"]).resolve(), (path.parent / item["label"]).resolve(),
                              _parse_labels(item.get("labels"), where), item.get("modality"),
                              item.get("body_part", "body"), patient=_patient(item.get("patient"), where),
                              meta=meta))
    return cases


def _cases_from_folder(path: Path) -> list[CaseSpec]:
    if _find(path, "image") is not None:
        return [_case_from_folder(path)]
    dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    subs = [p for p in dirs if _find(p, "image") is not None]
    if not subs:
        raise VolumeError(f"{path}: no case folders (image.*, label.*, labels.json) found")
    skipped = [p.name for p in dirs if p not in subs]
    if skipped:
        log.info("%s: sub-folders without image.* are not cases (a folder of case folders is a root of its own): %s",
                 path, ", ".join(skipped))
    return [_case_from_folder(p) for p in subs]


def load_cases(path: str | Path | Sequence[str | Path], section: str = "training") -> list[CaseSpec]:
    """Case specs from a datalist JSON, a folder of case folders or one case folder; a list / tuple of those
    is read with ``load_cases_many``."""
    if isinstance(path, (list, tuple)):
        return load_cases_many(path, section)
    path = Path(path)
    if not path.exists():
        raise VolumeError(f"{path}: no such datalist file or folder")
    return _cases_from_json(path, section) if path.is_file() else _cases_from_folder(path)


def load_cases_many(paths: Sequence[str | Path], section: str = "training") -> list[CaseSpec]:
    """``load_cases`` of each root, concatenated; case names must be unique across roots (clear error)."""
    if not paths:
        raise VolumeError("no datalist file or folder given")
    cases: list[CaseSpec] = []
    seen: dict[str, Path] = {}
    for root in paths:
        for spec in load_cases(Path(root), section):
            if spec.name in seen:
                raise VolumeError(f"case name {spec.name!r} occurs twice: {seen[spec.name]} and {spec.image}; "
                                  "rename one case folder (or give datalist items distinct 'name's)")
            seen[spec.name] = spec.image
            cases.append(spec)
    return cases

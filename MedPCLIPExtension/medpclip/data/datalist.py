"""Training / evaluation case lists: MONAI decathlon-style JSON or a folder of case folders.

Datalist JSON: ``{"training": [{"image": path, "label": path, "labels": {value: name}, "modality": "CT",
"body_part": "abdomen"}, ...]}`` (paths relative to the JSON file). Folder: each sub-folder (or the
folder itself) holds ``image.*``, ``label.*``, ``labels.json`` and optionally ``meta.json``
(``{"modality": ..., "body_part": ...}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .volume import VolumeError


@dataclass
class CaseSpec:
    name: str
    image: Path
    label: Path
    labels: dict[int, str]
    modality: str | None = None
    body_part: str = "body"
    extra: dict = field(default_factory=dict)


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
    return CaseSpec(folder.name, image, label, _parse_labels(labels, str(labels_json)), meta.get("modality"),
                    meta.get("body_part", "body"))


def load_cases(path: str | Path, section: str = "training") -> list[CaseSpec]:
    path = Path(path)
    if not path.exists():
        raise VolumeError(f"{path}: no such datalist file or folder")
    if path.is_file():
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
            cases.append(CaseSpec(item.get("name", Path(item["image"]).name.split(".")[0] + f"_{n}"),
                                  (path.parent / item["image"]).resolve(), (path.parent / item["label"]).resolve(),
                                  _parse_labels(item.get("labels"), where), item.get("modality"),
                                  item.get("body_part", "body")))
        return cases
    if _find(path, "image") is not None:
        return [_case_from_folder(path)]
    subs = sorted(p for p in path.iterdir() if p.is_dir() and _find(p, "image") is not None)
    if not subs:
        raise VolumeError(f"{path}: no case folders (image.*, label.*, labels.json) found")
    return [_case_from_folder(p) for p in subs]

"""The one prompt contract (DESIGN.md section 6), shared by the CLI, the MONAI Label app and Slicer.

``{"space": "ijk"|"ras"|"lps", "points": [[x, y, z], ...], "point_labels": [1, 0, ...],
  "box": [x0, y0, z0, x1, y1, z1], "plane": "axial"|"coronal"|"sagittal", "slice": int, "mode": "2d"|"3d"}``
plus MONAI Label's own keys: ``foreground`` / ``background`` (ijk points) and ``roi`` (interleaved
``[i0, i1, j0, j1, k0, k1]``, unsorted), as its Slicer plugin sends them. A prior ``mask`` is given as an
array to the engine (the CLI and server take it as a label file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


from ..data.geometry import PLANES, SPACES
from ..errors import PromptError

MAX_POINTS = 512


def _number_list(value: Any, what: str, length: int | None = None) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise PromptError(f"{what} must be a list of numbers, got {type(value).__name__}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise PromptError(f"{what} must hold numbers only, got {v!r}")
        if not math.isfinite(float(v)):
            raise PromptError(f"{what} holds a non-finite value ({v})")
        out.append(float(v))
    if length is not None and len(out) != length:
        raise PromptError(f"{what} must have {length} numbers, got {len(out)}")
    return out


def _points(value: Any, what: str) -> list[list[float]]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise PromptError(f"{what} must be a list of [x, y, z] points")
    if len(value) > MAX_POINTS:
        raise PromptError(f"{what}: too many points ({len(value)} > {MAX_POINTS})")
    return [_number_list(p, f"{what}[{n}]", 3) for n, p in enumerate(value)]


@dataclass
class PromptSpec:
    space: str = "ijk"
    points: list[list[float]] = field(default_factory=list)
    point_labels: list[int] = field(default_factory=list)
    box: list[float] | None = None            # [x0, y0, z0, x1, y1, z1] in ``space``
    plane: str = "axial"
    slice: int | None = None                  # index of the input image along the axis normal to the plane
    mode: str = "2d"

    @property
    def has_geometry_prompt(self) -> bool:
        return bool(self.points) or self.box is not None

    @classmethod
    def from_dict(cls, data: Any) -> "PromptSpec":
        if not isinstance(data, dict):
            raise PromptError("a prompt must be a JSON object")
        space = str(data.get("space", "ijk")).lower()
        if space not in SPACES:
            raise PromptError(f"unknown space {space!r}; use one of {list(SPACES)}")
        points = _points(data.get("points"), "points")
        labels_raw = data.get("point_labels", [1] * len(points))
        if not isinstance(labels_raw, (list, tuple)) or len(labels_raw) != len(points):
            raise PromptError(f"point_labels must be a list with one label per point ({len(points)})")
        labels = []
        for lab in labels_raw:
            if lab not in (0, 1) or isinstance(lab, bool):
                raise PromptError(f"point labels must be 1 (positive) or 0 (negative), got {lab!r}")
            labels.append(int(lab))
        # MONAI Label keys: always ijk
        fg, bg = _points(data.get("foreground"), "foreground"), _points(data.get("background"), "background")
        if (fg or bg) and points and space != "ijk":
            raise PromptError("foreground/background are ijk points; do not mix them with points in another space")
        points, labels = points + fg + bg, labels + [1] * len(fg) + [0] * len(bg)
        if len(points) > MAX_POINTS:
            raise PromptError(f"too many points ({len(points)} > {MAX_POINTS})")
        box = None
        if data.get("box") is not None:
            b = _number_list(data["box"], "box", 6)
            box = [min(b[0], b[3]), min(b[1], b[4]), min(b[2], b[5]), max(b[0], b[3]), max(b[1], b[4]), max(b[2], b[5])]
        if data.get("roi") not in (None, []):
            if box is not None:
                raise PromptError("give either box or roi, not both")
            r = _number_list(data["roi"], "roi", 6)
            box = [min(r[0], r[1]), min(r[2], r[3]), min(r[4], r[5]), max(r[0], r[1]), max(r[2], r[3]), max(r[4], r[5])]
            if space != "ijk" and points:
                raise PromptError("roi is in ijk; do not mix it with points in another space")
            space = "ijk" if not points else space
        plane = str(data.get("plane", "axial")).lower()
        if plane not in PLANES:
            raise PromptError(f"unknown plane {plane!r}; use one of {list(PLANES)}")
        slice_ = data.get("slice")
        if slice_ is not None:
            if isinstance(slice_, bool) or not isinstance(slice_, (int, float)) or float(slice_) != int(slice_) or slice_ < 0:
                raise PromptError(f"slice must be a non-negative integer, got {slice_!r}")
            slice_ = int(slice_)
        mode = str(data.get("mode", "2d")).lower()
        if mode not in ("2d", "3d"):
            raise PromptError(f"mode must be '2d' or '3d', got {mode!r}")
        return cls(space, points, labels, box, plane, slice_, mode)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"space": self.space, "points": self.points, "point_labels": self.point_labels,
                               "plane": self.plane, "mode": self.mode}
        if self.box is not None:
            out["box"] = self.box
        if self.slice is not None:
            out["slice"] = self.slice
        return out

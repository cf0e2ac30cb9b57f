"""The one prompt contract (DESIGN.md section 6), shared by the CLI, the MONAI Label app and Slicer: its
validation (``PromptSpec.from_dict`` / ``from_request``) and its resolution onto a volume's slices
(``PromptSpec.resolve``). No other module checks or converts prompts.

``{"space": "ijk"|"ras"|"lps", "points": [[x, y, z], ...], "point_labels": [1, 0, ...],
  "box": [x0, y0, z0, x1, y1, z1], "plane": "axial"|"coronal"|"sagittal", "slice": int, "mode": "2d"|"3d"}``
plus MONAI Label's own keys: ``foreground`` / ``background`` (ijk points) and ``roi`` (interleaved
``[i0, i1, j0, j1, k0, k1]``, unsorted), as its Slicer plugin sends them, and two keys for viewers (the Slicer
module): ``box_points`` (an ROI's corners in ``space``: the box is the voxel box enclosing them, clipped to the
image) and ``view_point`` (a point of the slice shown in the view: a 2D prompt with a box and no positive point
is answered on that slice when it cuts the box). A prior ``mask`` is given as an array to the engine (the CLI
and server take it as a label file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


import numpy as np

from ..data.geometry import PLANES, SPACES, GeometryError, VolumeGeometry, plane_axes, point_to_slice, to_ijk
from ..errors import PromptError

MAX_POINTS = 512
# the request keys of the prompt contract (the MONAI Label tasks pass exactly these on)
PROMPT_KEYS = ("space", "points", "point_labels", "box", "plane", "slice", "mode", "foreground", "background", "roi",
               "box_points", "view_point")
SlicePoints = dict[int, list[tuple[float, float, int]]]   # canonical slice -> [(x, y, label)] in slice pixels


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

    box_points: list[list[float]] = field(default_factory=list)  # an ROI's corners in ``space``
    view_point: list[float] | None = None     # a point of the slice shown in the viewer, in ``space``

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
        box_points = _points(data.get("box_points"), "box_points")
        if box_points and box is not None:
            raise PromptError("give either box / roi or box_points, not both")
        view_point = None if data.get("view_point") is None else _number_list(data["view_point"], "view_point", 3)
        return cls(space, points, labels, box, plane, slice_, mode, box_points, view_point)

    @classmethod
    def from_request(cls, request: dict[str, Any], default_mode: str | None = None) -> "PromptSpec":
        """The prompt of a MONAI Label request: the contract's keys, ``slice`` possibly typed as text (the Slicer
        plugin's options table), and ``mode`` ``auto`` (or absent) = 2D on a given slice, else ``default_mode``
        or 3D."""
        prompt = {k: request[k] for k in PROMPT_KEYS if request.get(k) is not None}
        if isinstance(prompt.get("slice"), str) and prompt["slice"].strip().lstrip("-").isdigit():
            prompt["slice"] = int(prompt["slice"])
        mode = str(prompt.get("mode") or "auto").lower()
        if mode == "auto":
            mode = default_mode or ("2d" if prompt.get("slice") is not None else "3d")
        prompt["mode"] = mode
        return cls.from_dict(prompt)

    def resolve(self, geometry: VolumeGeometry, volume_name: str | None = None) -> "ResolvedPrompt":
        """The prompt on ``geometry``'s canonical slices: the prompted slice, the points per slice, the 2D box
        and the box's range along the plane's axis. Every check that needs the image happens here: points and
        box corners inside it, a slice of it, 2D points on one slice, a positive point or a box on the prompted
        slice. ``volume_name`` names the volume in the messages (default: "the image")."""
        plane = self.plane
        by_slice: SlicePoints = {}
        if self.points:
            canon = _points_inside(geometry, self.points, self.point_labels, self.space, volume_name)
            for p, lab in zip(canon, self.point_labels):
                idx, x, y = point_to_slice(p, plane, geometry.shape)
                by_slice.setdefault(idx, []).append((x, y, lab))
        box2d = box_range = None
        box = self.box
        if self.box_points:
            box = geometry.voxel_box(np.array(self.box_points), self.space)
            if box is None:
                raise PromptError(f"the ROI does not overlap {_image_words(volume_name)}")
        if box is not None:
            space = "ijk" if self.box_points else self.space
            corners = np.array([[x, y, z] for x in (box[0], box[3]) for y in (box[1], box[4]) for z in (box[2], box[5])])
            try:
                canon = geometry.to_canonical_points(corners, space, "box corner")
            except GeometryError as exc:
                raise PromptError(str(exc)) from None
            proj = np.array([point_to_slice(c, plane, geometry.shape)[1:] for c in canon])
            fixed = plane_axes(plane)[0]
            lo, hi = canon[:, fixed].min(), canon[:, fixed].max()
            box2d = (proj[:, 0].min(), proj[:, 1].min(), proj[:, 0].max(), proj[:, 1].max())
            n = geometry.n_slices(plane)  # a corner on the last voxel's outer face must not round past the image
            box_range = (int(np.clip(np.floor(lo + 0.5), 0, n - 1)), int(np.clip(np.floor(hi + 0.5), 0, n - 1)))
        start = self._start_slice(geometry, by_slice, box_range)
        if self.mode == "2d":
            others = sorted(i for i in by_slice if i != start)
            if others:
                raise PromptError(f"2D prompt points lie on several {plane} slices "
                                  f"({[geometry.input_slice_index(plane, i) for i in [start] + others]}); "
                                  "put them on one slice, give 'slice', or use mode 3d")
        if not any(p[2] == 1 for p in by_slice.get(start, [])) and box2d is None:
            raise PromptError("the prompted slice needs at least one positive point or a box")
        return ResolvedPrompt(plane, self.mode, start, by_slice, box2d, box_range)

    def _start_slice(self, geometry: VolumeGeometry, by_slice: SlicePoints, box_range: tuple[int, int] | None) -> int:
        plane = self.plane
        if self.slice is not None:
            try:
                return geometry.canonical_slice_index(plane, self.slice)
            except GeometryError as exc:
                raise PromptError(str(exc)) from None
        if by_slice:
            first_pos = next((idx for idx, pts in by_slice.items() if any(p[2] == 1 for p in pts)), None)
            return first_pos if first_pos is not None else next(iter(by_slice))
        if box_range is not None:
            if self.mode == "2d" and self.view_point is not None:  # the slice in the viewer, when it cuts the box
                canon = geometry.orient.ijk_to_canonical(to_ijk(np.array([self.view_point]), self.space, geometry.affine))
                shown = point_to_slice(canon[0], plane, geometry.shape)[0]
                if box_range[0] <= shown <= box_range[1]:
                    return shown
            return (box_range[0] + box_range[1]) // 2
        raise PromptError("the prompt has no points and no box")


@dataclass
class ResolvedPrompt:
    """A prompt on a volume's canonical slices (``PromptSpec.resolve``)."""

    plane: str
    mode: str
    start: int                                    # canonical index of the prompted slice
    by_slice: SlicePoints                         # points per canonical slice, in slice pixels
    box2d: tuple[float, float, float, float] | None   # (x0, y0, x1, y1) in slice pixels
    box_range: tuple[int, int] | None             # the box's canonical slices along the plane's axis

    @property
    def points(self) -> list[tuple[float, float, int]]:
        """The prompted slice's points."""
        return self.by_slice.get(self.start, [])


def _image_words(volume_name: str | None) -> str:
    return f"volume '{volume_name}'" if volume_name else "the image"


def _points_inside(geometry: VolumeGeometry, points: list[list[float]], labels: list[int], space: str,
                   volume_name: str | None) -> np.ndarray:
    """Canonical ijk of prompt points; the first point outside the image is named in a PromptError."""
    ijk = to_ijk(np.array(points), space, geometry.affine)
    upper = np.asarray(geometry.shape_ijk, dtype=float) - 0.5   # half-voxel margin, as check_inside
    counts = {1: 0, 0: 0}
    for p_in, p_ijk, lab in zip(points, ijk, labels):
        counts[lab] += 1
        if np.any(p_ijk < -0.5) or np.any(p_ijk > upper):
            kind = "positive" if lab == 1 else "negative"
            where = "" if space == "ijk" else f" (ijk {np.round(p_ijk, 2).tolist()})"
            raise PromptError(f"{kind} point {counts[lab]} at {space.upper() if space != 'ijk' else 'ijk'} "
                              f"({', '.join(f'{v:.1f}' for v in p_in)}){where} lies outside {_image_words(volume_name)} "
                              f"(size {list(geometry.shape_ijk)})")
    return geometry.orient.ijk_to_canonical(ijk)

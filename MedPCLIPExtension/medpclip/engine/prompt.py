"""The one prompt contract (DESIGN.md section 6), shared by the CLI, the MONAI Label app and Slicer: its
validation (``PromptSpec.from_dict`` / ``from_request``) and its resolution onto a volume's slices
(``PromptSpec.resolve``). No other module checks or converts prompts.

``{"space": "ijk"|"ras"|"lps", "points": [[x, y, z], ...], "point_labels": [1, 0, ...],
  "box": [x0, y0, z0, x1, y1, z1], "plane": "axial"|"coronal"|"sagittal", "slice": int, "mode": "2d"|"3d"}``
plus MONAI Label's own keys: ``foreground`` / ``background`` (ijk points) and ``roi`` (interleaved
``[i0, i1, j0, j1, k0, k1]``, unsorted), as its Slicer plugin sends them, and two keys for viewers (the Slicer
module): ``box_points`` (an ROI's corners in ``space``: the box is the voxel box enclosing them, clipped to the
image) and ``view_point`` (a point of the slice shown in the view: a 2D prompt with a box and no positive point
is answered on that slice when it cuts the box). Strokes (issue 14): ``scribbles`` ``[{"points": [[x, y, z], ...],
"label": 1 | 0}, ...]`` (polylines, positive / negative) and ``lasso`` ``[[x, y, z], ...]`` (a closed polygon on
one slice whose inside is the rough region), both in ``space``. ``alternative`` (0, 1, 2): which of the model's
answers to one positive click alone is returned, best-ranked first (SAM's multimask outputs; a click on a nested
structure is ambiguous, and the user can step through the other readings). A prior ``mask`` and a strokes label map are given
as arrays to the engine (the CLI and server take them as label files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


import numpy as np

from ..data.geometry import (PLANES, SPACES, GeometryError, VolumeGeometry, extract_slice, first_outside, plane_axes,
                             point_to_slice, to_ijk)
from ..errors import PromptError
from .strokes import draw_samples, map_tokens, polygon_mask, stroke_samples, stroke_tokens

MAX_POINTS = 512
# the request keys of the prompt contract (the MONAI Label tasks pass exactly these on)
PROMPT_KEYS = ("space", "points", "point_labels", "box", "plane", "slice", "mode", "foreground", "background", "roi",
               "box_points", "view_point", "scribbles", "lasso", "alternative")
MAX_STROKES = 64
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
    scribbles: list[tuple[list[list[float]], int]] = field(default_factory=list)  # (polyline, label) in ``space``
    lasso: list[list[float]] = field(default_factory=list)  # a closed polygon on one slice, in ``space``
    alternative: int = 0                      # which answer to one click alone, 0 = the engine's pick (see above)

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
        scribbles = _scribbles(data.get("scribbles"))
        lasso = _points(data.get("lasso"), "lasso")
        if lasso and len(lasso) < 3:
            raise PromptError(f"a lasso needs at least 3 points, got {len(lasso)}")
        alternative = _alternative(data.get("alternative", 0))
        if alternative and (len(points) != 1 or labels[0] != 1 or box is not None or box_points or scribbles or lasso):
            raise PromptError("'alternative' picks among the answers to one positive click alone; "
                              "this prompt has other points, a box, strokes or a lasso")
        return cls(space, points, labels, box, plane, slice_, mode, box_points, view_point, scribbles, lasso,
                   alternative)

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

    def resolve(self, geometry: VolumeGeometry, volume_name: str | None = None,
                stroke_map: np.ndarray | None = None) -> "ResolvedPrompt":
        """The prompt on ``geometry``'s canonical slices: the prompted slice, the points per slice, the 2D box
        and the box's range along the plane's axis. Every check that needs the image happens here: points and
        box corners inside it, a slice of it, 2D points on one slice, a positive point or a box on the prompted
        slice. ``volume_name`` names the volume in the messages (default: "the image"). ``stroke_map`` (canonical
        [k, j, i], 1 = positive, 2 = negative stroke) adds its strokes."""
        plane = self.plane
        by_slice: SlicePoints = {}
        if self.points:
            canon = _points_inside(geometry, self.points, self.point_labels, self.space, volume_name)
            for p, lab in zip(canon, self.point_labels):
                idx, x, y = point_to_slice(p, plane, geometry.shape)
                by_slice.setdefault(idx, []).append((x, y, lab))
        strokes: SlicePoints = {}
        maps: dict[int, np.ndarray] = {}  # per slice, the strokes' pixels (1 positive, 2 negative)
        for n, (line, label) in enumerate(self.scribbles):
            canon = _points_inside(geometry, line, [label] * len(line), self.space, volume_name, f"scribble {n + 1}")
            samples = stroke_samples(canon, plane, geometry.shape)
            for idx, tokens in stroke_tokens(samples, label).items():
                strokes.setdefault(idx, []).extend(tokens)
                draw_samples(maps.setdefault(idx, np.zeros(_slice_shape(geometry, plane), np.uint8)), samples[idx],
                             label)
        if stroke_map is not None:
            tokens = map_tokens(stroke_map, plane)
            if not tokens:
                raise PromptError("the strokes label map is empty (1 = positive stroke, 2 = negative stroke)")
            for idx, found in tokens.items():
                strokes.setdefault(idx, []).extend(found)
                painted = extract_slice(stroke_map, plane, idx)
                maps[idx] = np.where(painted > 0, painted, maps[idx]) if idx in maps else np.asarray(painted, np.uint8)
        for idx, tokens in strokes.items():  # strokes act on their slices as points do (the start slice: see views)
            by_slice.setdefault(idx, []).extend(tokens)
        lasso_slice = region2d = None
        if self.lasso:
            lasso_slice, region2d = self._lasso(geometry, volume_name)
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
        if region2d is not None and box2d is None:
            ys, xs = np.nonzero(region2d)
            box2d = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        start = self._start_slice(geometry, by_slice, box_range if lasso_slice is None else (lasso_slice, lasso_slice))
        if lasso_slice is not None and start != lasso_slice:
            raise PromptError(f"the lasso lies on {plane} slice {geometry.input_slice_index(plane, lasso_slice)}, "
                              f"the prompt's positive points on slice {geometry.input_slice_index(plane, start)}")
        if self.mode == "2d":
            others = sorted(i for i in by_slice if i != start)
            if others:
                raise PromptError(f"2D prompt points lie on several {plane} slices "
                                  f"({[geometry.input_slice_index(plane, i) for i in [start] + others]}); "
                                  "put them on one slice, give 'slice', or use mode 3d")
        if not any(p[2] == 1 for p in by_slice.get(start, [])) and box2d is None:
            raise PromptError("the prompted slice needs at least one positive point or a box")
        return ResolvedPrompt(plane, self.mode, start, by_slice, box2d, box_range, region2d, strokes, maps)

    def _lasso(self, geometry: VolumeGeometry, volume_name: str | None) -> tuple[int, np.ndarray]:
        """The lasso's canonical slice and its inside on that slice."""
        canon = _points_inside(geometry, self.lasso, [1] * len(self.lasso), self.space, volume_name, "lasso")
        on = [point_to_slice(p, self.plane, geometry.shape) for p in canon]
        slices = sorted({idx for idx, _, _ in on})
        if len(slices) > 1:
            raise PromptError(f"the lasso's points lie on several {self.plane} slices "
                              f"({[geometry.input_slice_index(self.plane, i) for i in slices]}); draw it on one slice")
        plane_shape = _slice_shape(geometry, self.plane)
        region = polygon_mask(np.array([(x, y) for _, x, y in on]), plane_shape)
        if not region.any():
            raise PromptError("the lasso encloses no pixel (its points are too close together)")
        return slices[0], region

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
    region2d: np.ndarray | None = None            # a lasso's inside on the prompted slice (rows, cols)
    strokes: SlicePoints = field(default_factory=dict)  # the stroke tokens among ``by_slice``, per slice
    stroke_maps: dict[int, np.ndarray] = field(default_factory=dict)  # per slice: stroke pixels (1 pos, 2 neg)

    @property
    def stroke_tokens(self) -> list[tuple[float, float, int]]:
        """The prompted slice's stroke tokens."""
        return self.strokes.get(self.start, [])

    @property
    def clicks(self) -> list[tuple[float, float, int]]:
        """The prompted slice's points that are not stroke tokens."""
        tokens = self.stroke_tokens
        return [p for p in self.points if p not in tokens]

    @property
    def points(self) -> list[tuple[float, float, int]]:
        """The prompted slice's points."""
        return self.by_slice.get(self.start, [])


def _alternative(value: Any) -> int:
    """Which answer to one click: a whole number >= 0 (how many answers there are is the model's to say, and the
    session checks it: ``Engine.answers_per_click``)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():  # the Slicer plugin's options table sends text
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or value < 0:
        raise PromptError(f"alternative must be a whole number >= 0 (which answer to one click), got {value!r}")
    return int(value)


def _scribbles(value: Any) -> list[tuple[list[list[float]], int]]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise PromptError('scribbles must be a list of {"points": [[x, y, z], ...], "label": 1 | 0}')
    if len(value) > MAX_STROKES:
        raise PromptError(f"too many scribbles ({len(value)} > {MAX_STROKES})")
    out = []
    for n, stroke in enumerate(value):
        if not isinstance(stroke, dict) or "points" not in stroke:
            raise PromptError(f'scribbles[{n}] must be an object {{"points": [[x, y, z], ...], "label": 1 | 0}}')
        points = _points(stroke["points"], f"scribbles[{n}].points")
        if not points:
            raise PromptError(f"scribbles[{n}] has no points")
        label = stroke.get("label", 1)
        if label not in (0, 1) or isinstance(label, bool):
            raise PromptError(f"scribbles[{n}].label must be 1 (positive) or 0 (negative), got {label!r}")
        out.append((points, int(label)))
    return out


def _slice_shape(geometry: VolumeGeometry, plane: str) -> tuple[int, int]:
    _, row_axis, col_axis = plane_axes(plane)
    return geometry.shape[row_axis], geometry.shape[col_axis]


def _image_words(volume_name: str | None) -> str:
    return f"volume '{volume_name}'" if volume_name else "the image"


def _points_inside(geometry: VolumeGeometry, points: list[list[float]], labels: list[int], space: str,
                   volume_name: str | None, what: str | None = None) -> np.ndarray:
    """Canonical ijk of prompt points; the first point outside the image is named in a PromptError."""
    ijk = to_ijk(np.array(points), space, geometry.affine)
    n = first_outside(ijk, geometry.shape_ijk)
    if n is not None:
        lab = labels[n]
        kind = what or ("positive" if lab == 1 else "negative")
        number = sum(1 for other in labels[:n + 1] if other == lab)   # "negative point 2": counted per kind
        where = "" if space == "ijk" else f" (ijk {np.round(ijk[n], 2).tolist()})"
        raise PromptError(f"{kind} point {number} at {space.upper() if space != 'ijk' else 'ijk'} "
                          f"({', '.join(f'{v:.1f}' for v in points[n])}){where} lies outside {_image_words(volume_name)} "
                          f"(size {list(geometry.shape_ijk)})")
    return geometry.orient.ijk_to_canonical(ijk)

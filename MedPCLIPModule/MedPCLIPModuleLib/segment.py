"""The segment and find jobs: MRML prompt nodes -> the prompt contract in world coordinates, and a result written
into its segment (undoable). No Qt here.

No geometry here: points, an ROI's corners and the view's slice origin go to the engine as world (RAS) points;
the engine (``medpclip.engine.prompt``) converts them with the volume's world affine, checks them against the
image, takes the ROI's voxel box and picks the slice. A result reports the slab of the volume it speaks for,
which is what a 2D result replaces in an existing segment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import mrml_util as mu
from .backends import MedPCLIPError, SegmentOutput
from .jobs import Job
from .undo import UndoRecord, UndoStack, rollback


@dataclass
class LastResult:
    kind: str                     # "segment" | "find"
    segmentationNodeID: str
    segmentId: str
    score: float
    voxels: int
    plane: str
    sliceIndex: int | None
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """What the engine said about the result (e.g. where and why a 3D propagation stopped)."""
        return [str(w) for w in self.info.get("warnings") or []]

    @property
    def alternative(self) -> int | None:
        """For one click alone: which of the model's answers this is (0 = the engine's pick); else None."""
        value = self.info.get("alternative")
        return int(value) if value is not None else None

    @property
    def alternatives(self) -> int:
        """How many answers the model offers for this result's prompt (0: it is not one click alone)."""
        return int(self.info.get("alternatives") or 0)


@dataclass
class Target:
    """Where a result is written: ``segmentId`` None (or not in the segmentation) -> a new segment."""

    volumeNode: Any
    segmentationNode: Any
    segmentId: str | None
    mode: str = "2d"
    allowEmpty: bool = False
    segmentName: str | None = None


def build_prompt(scene, positivePointsRAS=(), negativePointsRAS=(), roiNode=None, mode: str = "2d",
                 sliceViewName: str | None = None, plane: str | None = None, lassoNode=None,
                 hasStrokes: bool = False) -> dict:
    """The DESIGN section 6 prompt from world points (lists, arrays or markups nodes), an ROI node and the slice
    view prompted in, all in ``ras`` (parent transforms included): ``box_points`` are the ROI's 8 world corners
    (the engine takes the voxel box enclosing them, so it is tight for an ROI rotated like the volume),
    ``view_point`` the view's slice origin (a box alone in 2D is answered on the slice shown there)."""
    try:
        pos, neg = mu.as_points(positivePointsRAS), mu.as_points(negativePointsRAS)
        corners = mu.roi_corners_world(roiNode) if roiNode is not None else None
        lasso = mu.as_points(lassoNode) if lassoNode is not None else []
        viewPlane, viewOrigin = mu.slice_view_plane(scene, sliceViewName)
    except (ValueError, mu.MRMLGeometryError) as exc:
        raise MedPCLIPError(str(exc)) from None
    if not pos and corners is None and not lasso and not hasStrokes:
        raise MedPCLIPError("place at least one positive point or an ROI box "
                            "(or draw a lasso, or paint a positive stroke)")
    prompt: dict[str, Any] = {"space": "ras", "points": pos + neg, "point_labels": [1] * len(pos) + [0] * len(neg),
                              "plane": plane or viewPlane or "axial", "mode": mode}
    if corners is not None:
        prompt["box_points"] = corners
    if lasso:
        prompt["lasso"] = lasso  # a closed curve: the engine checks it lies on one slice
    if viewOrigin is not None:
        prompt["view_point"] = [float(v) for v in viewOrigin]
    return prompt


def strokes_map(segmentationNode, positiveId: str | None, negativeId: str | None, volumeNode) -> np.ndarray | None:
    """Painted stroke segments as the engine's strokes label map on the volume's grid (1 = positive, 2 = negative
    stroke; a voxel painted in both counts as negative); None when no stroke segment is given."""
    if segmentationNode is None or not (positiveId or negativeId):
        return None
    out = None
    for segmentId, value in ((positiveId, 1), (negativeId, 2)):
        if not segmentId:
            continue
        if not mu.has_segment(segmentationNode, segmentId):
            raise MedPCLIPError(f"stroke segment '{segmentId}' is not in '{segmentationNode.GetName()}'")
        try:
            painted = mu.segment_array(segmentationNode, segmentId, volumeNode) > 0
        except mu.MRMLGeometryError as exc:
            raise MedPCLIPError(str(exc)) from None
        out = np.zeros(painted.shape, np.uint8) if out is None else out
        out[painted] = value
    if not out.any():
        raise MedPCLIPError("the stroke segments are empty: paint a positive stroke first")
    return out


def segment_prior(segmentationNode, segmentId, volumeNode) -> np.ndarray:
    """The selected segment as a mask prompt on the volume's grid (it must exist and not be empty)."""
    try:
        current = mu.segment_array(segmentationNode, segmentId, volumeNode) \
            if mu.has_segment(segmentationNode, segmentId) else None
    except mu.MRMLGeometryError as exc:
        raise MedPCLIPError(str(exc)) from None
    if current is None or not current.any():
        raise MedPCLIPError("'use segment as mask prompt' needs a non-empty selected segment")
    return current


def writing_job(kind: str, call: Callable[[], SegmentOutput], target: Target, undo: UndoStack,
                done: Callable[[LastResult], Any]) -> Job:
    """A job whose compute step is the backend ``call`` (timed) and whose apply step writes its mask into
    ``target`` and hands the ``LastResult`` to ``done``."""

    def compute() -> SegmentOutput:
        t0 = time.perf_counter()
        out = call()
        out.info["seconds"] = time.perf_counter() - t0
        return out

    def apply(out: SegmentOutput):
        return done(write_result(kind, target, out, undo))

    return Job(compute, apply)


def write_result(kind: str, target: Target, out: SegmentOutput, undo: UndoStack) -> LastResult:
    """Write a result into its segment: 3D (and a new segment) replaces the segment, 2D only the slab the result
    reports (the prompted slice; the whole segment when the backend reports none). Only the target segment is
    ever written; a failed write is rolled back."""
    volumeNode, segmentationNode, segmentId = target.volumeNode, target.segmentationNode, target.segmentId
    mask = np.asarray(out.mask, np.uint8)
    shape = mu.volume_array_shape(volumeNode)
    if mask.shape != shape:
        raise MedPCLIPError(f"result shape {mask.shape} does not match the volume {shape}; nothing written")
    found = out.info.get("found") or {}
    if found and not found.get("found", True):  # find: nothing in the image matches the text
        raise MedPCLIPError(next((w for w in out.info.get("warnings") or [] if w.startswith("not found")),
                                 "not found") + "; no segment was written")
    if not mask.any() and not target.allowEmpty:
        raise MedPCLIPError(f"no region found at the prompt (quality {out.score:.2f}); "
                            "the segment was left unchanged - try another point or a box")
    created = not mu.has_segment(segmentationNode, segmentId)
    slab = out.slab_index
    if target.mode == "2d" and not created and slab is not None:
        merged = mu.segment_array(segmentationNode, segmentId, volumeNode)  # the segment's other slices are kept
        merged[slab] = mask[slab]
        mask = merged
    record = UndoRecord(f"{kind} {'new segment' if created else segmentId}", segmentationNode.GetID(),
                        segmentId or "", created)
    mu.ensure_reference_geometry(segmentationNode, volumeNode)
    if created:
        name = target.segmentName or new_segment_name(segmentationNode)
        segmentId = segmentationNode.GetSegmentation().AddEmptySegment(segmentId or "", name,
                                                                       new_segment_colour(segmentationNode))
        record.segmentId = segmentId
    else:
        record.snapshot = mu.segment_snapshot(segmentationNode, segmentId)
    try:
        mu.write_segment(segmentationNode, segmentId, mask, volumeNode)
    except Exception as exc:
        rollback(segmentationNode, record)
        raise MedPCLIPError(f"could not write the result: {exc}") from exc
    undo.push(record)
    return LastResult(kind, segmentationNode.GetID(), segmentId, float(out.score), int(mask.sum()), out.plane,
                      out.slice_index, float(out.info.get("seconds", 0.0)), out.info)


def new_segment_name(segmentationNode) -> str:
    seg = segmentationNode.GetSegmentation()
    names = {seg.GetNthSegment(n).GetName() for n in range(seg.GetNumberOfSegments())}
    n = 1
    while f"MedPCLIP {n}" in names:
        n += 1
    return f"MedPCLIP {n}"


# Saturated colours a segment stands out in over a grey image. Without a colour, AddEmptySegment picks a random
# one, now and then nearly grey (seen: #3f2b3f, a dark segment on a grey CT that the web page's test could not
# tell from the image).
SEGMENT_COLOURS = ((0.90, 0.35, 0.20), (0.15, 0.70, 0.95), (0.95, 0.80, 0.10), (0.30, 0.85, 0.35),
                   (0.85, 0.30, 0.85), (0.10, 0.85, 0.75), (0.95, 0.55, 0.10), (0.50, 0.40, 0.95))


def new_segment_colour(segmentationNode) -> list[float]:
    """The next colour of ``SEGMENT_COLOURS``, by how many segments the segmentation holds."""
    return list(SEGMENT_COLOURS[segmentationNode.GetSegmentation().GetNumberOfSegments() % len(SEGMENT_COLOURS)])

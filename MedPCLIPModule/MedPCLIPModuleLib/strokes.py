"""The module panel's painted strokes, without Qt (issue 14): a dedicated segmentation ("MedPCLIP strokes") with a
positive and a negative stroke segment on the input volume's grid. Slicer users paint into it with the Segment
Editor's Paint / Draw effects (the widget selects the segment and the effect); the web page paints its mouse
strokes with ``paint``. Each finished stroke segments again, like a placed point. Everything here is MRML, so it
runs on PyPI ``slicer-core`` too.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import slicer

from . import mrml_util as mu

POSITIVE_NAME, NEGATIVE_NAME = "positive stroke", "negative stroke"
POSITIVE_COLOR = (0.2, 0.9, 0.3)
NEGATIVE_COLOR = (0.95, 0.25, 0.2)
BRUSH_RADIUS_MM = 1.5  # the web page's brush (Slicer's Paint effect has its own)


class StrokeSegments:
    """The parameter node's ``strokes`` segmentation and its observer: ``onChanged(caller, event)`` is called
    when a stroke segment's content changes (a paint stroke ended)."""

    def __init__(self, scene, onChanged: Callable[[Any, int], None] | None = None) -> None:
        self.scene = scene
        self.onChanged = onChanged
        self._observed: tuple[Any, int] | None = None
        self.muted = False  # while the panel itself clears the strokes

    def node(self, parameters, create: bool = True):
        """The stroke segmentation (two segments, the input volume's geometry); a new one when there is none."""
        node = parameters.strokes
        if node is None and create:
            if parameters.inputVolume is None:
                raise ValueError("select an input volume before painting strokes")
            node = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                self.scene.GenerateUniqueName("MedPCLIP strokes"))
            node.CreateDefaultDisplayNodes()
            node.SetReferenceImageGeometryParameterFromVolumeNode(parameters.inputVolume)
            seg = node.GetSegmentation()
            for name, color in ((POSITIVE_NAME, POSITIVE_COLOR), (NEGATIVE_NAME, NEGATIVE_COLOR)):
                seg.AddEmptySegment(name, name, list(color))
            parameters.strokes = node
        if node is not None:
            self.watch(node)
        return node

    @staticmethod
    def segmentId(node, positive: bool) -> str:
        return POSITIVE_NAME if positive else NEGATIVE_NAME

    def ids(self, parameters) -> tuple[str | None, str | None]:
        """(positive, negative) stroke segment ids to send with a prompt: None for an empty or missing one."""
        node = parameters.strokes
        if node is None or parameters.inputVolume is None:
            return None, None
        out = []
        for positive in (True, False):
            sid = self.segmentId(node, positive)
            out.append(sid if mu.has_segment(node, sid) and self._painted(node, sid, parameters.inputVolume) else None)
        return out[0], out[1]

    def painted(self, parameters) -> bool:
        """Whether a positive stroke is painted (what a prompt without points needs)."""
        return self.ids(parameters)[0] is not None

    @staticmethod
    def _painted(node, segmentId: str, volumeNode) -> bool:
        """Whether a stroke segment holds a voxel, read from its own labelmap (no resampling)."""
        segment = node.GetSegmentation().GetSegment(segmentId)
        image = segment.GetRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName())
        if image is None or image.IsEmpty():
            return False
        return bool((mu.array_from_vtk_image(image) == segment.GetLabelValue()).any())

    def paint(self, parameters, pointsRAS, positive: bool, radiusMm: float = BRUSH_RADIUS_MM) -> int:
        """Add a brush stroke along a polyline of world RAS points, on the voxel slices they cross; -> voxels
        painted. Points outside the volume are dropped (a stroke entirely outside paints nothing)."""
        node = self.node(parameters)
        volume = parameters.inputVolume
        sid = self.segmentId(node, positive)
        current = mu.segment_array(node, sid, volume) > 0
        stroke = brush_mask(current.shape, mu.volume_world_affine(volume), pointsRAS, radiusMm)
        added = int((stroke & ~current).sum())
        if added:
            mu.write_segment(node, sid, current | stroke, volume)
        return added

    def clear(self, parameters) -> None:
        node = parameters.strokes
        if node is None:
            return
        self.muted = True
        try:
            for positive in (True, False):
                sid = self.segmentId(node, positive)
                if mu.has_segment(node, sid):
                    slicer.vtkSlicerSegmentationsModuleLogic.ClearSegment(node, sid)
        finally:
            self.muted = False

    # -- observer -------------------------------------------------------------------------------------
    def watch(self, node) -> None:
        if self._observed is not None and self._observed[0] is node:
            return
        self.unwatch()
        seg = node.GetSegmentation()
        tag = seg.AddObserver(slicer.vtkSegmentation.RepresentationModified, self._changed)
        self._observed = (seg, tag)

    def unwatch(self) -> None:
        if self._observed is not None:
            seg, tag = self._observed
            seg.RemoveObserver(tag)
            self._observed = None

    def _changed(self, caller, event) -> None:
        if not self.muted and self.onChanged is not None:
            self.onChanged(caller, event)


def brush_mask(shape_kji: tuple[int, int, int], ijk_to_ras: np.ndarray, pointsRAS, radiusMm: float) -> np.ndarray:
    """The voxels within ``radiusMm`` (in-slice) of a polyline of RAS points, on the slices its samples fall on."""
    out = np.zeros(shape_kji, bool)
    pts = np.asarray(pointsRAS, float).reshape(-1, 3)
    if len(pts) == 0:
        return out
    ras_to_ijk = np.linalg.inv(ijk_to_ras)
    ijk = (ras_to_ijk @ np.c_[pts, np.ones(len(pts))].T).T[:, :3]
    samples = [ijk[:1]]
    for a, b in zip(ijk[:-1], ijk[1:]):  # every half voxel along each segment
        n = max(1, int(np.ceil(np.linalg.norm(b - a) * 2)))
        samples.append(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
    ijk = np.concatenate(samples)
    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    # the axis along which the stroke is flattest is the slice axis the user painted on
    axis = int(np.argmin(np.ptp(ijk, axis=0) * spacing))
    inplane = [a for a in range(3) if a != axis]
    r = [max(0, int(np.ceil(radiusMm / spacing[a]))) for a in inplane]
    kji_shape = shape_kji[::-1]  # i, j, k sizes
    for p in ijk:
        c = np.floor(p + 0.5).astype(int)
        if not all(0 <= c[a] < kji_shape[a] for a in range(3)):
            continue
        lo = [max(0, c[a] - ra) for a, ra in zip(inplane, r)]
        hi = [min(kji_shape[a] - 1, c[a] + ra) for a, ra in zip(inplane, r)]
        g0, g1 = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
        d2 = ((g0 - p[inplane[0]]) * spacing[inplane[0]]) ** 2 + ((g1 - p[inplane[1]]) * spacing[inplane[1]]) ** 2
        keep = d2 <= max(radiusMm, 0.5 * min(spacing[a] for a in inplane)) ** 2
        idx = [None, None, None]
        idx[axis] = np.full(int(keep.sum()), c[axis])
        idx[inplane[0]], idx[inplane[1]] = g0[keep], g1[keep]
        out[idx[2], idx[1], idx[0]] = True
    return out

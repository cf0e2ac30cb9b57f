"""``MedPCLIPLogic``: the scriptable logic of the MedPCLIP module (usable from Slicer's Python console and in tests
on PyPI ``slicer-core``). No Qt here.

Each operation has three steps, so the widget can keep the GUI responsive:

1. ``prepare*`` (main thread): read the MRML nodes -> plain arrays, world affine, a DESIGN section 6 prompt;
2. ``job.compute()`` (any thread): the backend call (engine in-process, or the MONAI Label server);
3. ``job.apply(result)`` (main thread): write the result into the segment, remember how to undo it.

``segment`` / ``identify`` / ``find`` run the three steps in a row. Nothing is written unless step 2 succeeded,
and only the target segment is ever written: other segments are never modified.

Example (Slicer Python console)::

    from MedPCLIPModuleLib.logic import MedPCLIPLogic
    logic = MedPCLIPLogic()                      # local backend, default checkpoint, CUDA when present
    vol = getNode("CTACardio"); seg = getNode("Segmentation")
    score = logic.segment(vol, seg, None, [[10.0, 40.0, -120.0]], mode="3d")
    logic.identify(vol, seg, logic.lastResult.segmentId)   # [('liver', 0.91), ...]
    logic.undo()
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import slicer

from . import mrml_util as mu
from .backends import LocalBackend, MedPCLIPError, RemoteBackend, SegmentOutput, VolumeData

log = logging.getLogger(__name__)

UNDO_DEPTH = 10


@dataclass
class Job:
    """One unit of model work: ``compute`` touches no MRML (thread-safe), ``apply`` must run on the main thread."""

    kind: str
    compute: Callable[[], Any]
    apply: Callable[[Any], Any]
    description: str = ""

    def run(self):
        return self.apply(self.compute())


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


@dataclass
class _UndoRecord:
    description: str
    segmentationNodeID: str
    segmentId: str
    created: bool                 # the segment was created by this action -> undo removes it
    snapshot: Any = None          # vtkOrientedImageData (segmentation frame) or None (was empty)
    oldName: str | None = None
    restoreContent: bool = True
    oldTags: dict = field(default_factory=dict)


def _get_tag(segment, tag: str) -> str:
    import vtk

    value = vtk.reference("")
    segment.GetTag(tag, value)
    return str(value.get())


class MedPCLIPLogic:
    """Segment from point / box / mask prompts, identify a segment, find a structure by text; with undo."""

    def __init__(self, backend=None, scene=None, checkpoint: str | None = None, device: str = "auto",
                 modality: str | None = None) -> None:
        self._scene = scene
        if backend is None:
            from .dependencies import default_checkpoint

            backend = LocalBackend(checkpoint=checkpoint or default_checkpoint(), device=device)
        self.backend = backend
        self.modality = modality              # None: the engine guesses CT / MR from the intensities
        self.vocabulary: list[str] | None = None  # None: the checkpoint's vocabulary
        self.lastResult: LastResult | None = None
        self.lastIdentification: list[dict] = []
        self._undo: list[_UndoRecord] = []
        self._executor: ThreadPoolExecutor | None = None
        self._volumeCache: dict[str, tuple[tuple, VolumeData]] = {}
        self._lock = threading.Lock()

    # -- configuration ----------------------------------------------------------------------------
    @property
    def scene(self):
        return self._scene if self._scene is not None else slicer.mrmlScene

    def setBackend(self, backend) -> None:
        """A backend object, "local", or a MONAI Label URL (http://host:port)."""
        if isinstance(backend, str):
            if backend == "local":
                return self.useLocal()
            backend = RemoteBackend(backend)
        old, self.backend = self.backend, backend
        if old is not None and old is not backend:
            old.close()

    def useLocal(self, checkpoint: str | None = None, device: str = "auto") -> None:
        from .dependencies import default_checkpoint

        self.setBackend(LocalBackend(checkpoint=checkpoint or default_checkpoint(), device=device))

    def useRemote(self, url: str, token: str | None = None) -> RemoteBackend:
        """Segment on a MONAI Label server; ``token`` for a server started with one (None: $MEDPCLIP_TOKEN)."""
        backend = RemoteBackend(url, token=token)
        self.setBackend(backend)
        return backend

    def testConnection(self, url: str | None = None, token: str | None = None) -> dict:
        """Check a MONAI Label server (or the current remote backend); raises MedPCLIPError with the reason."""
        backend = RemoteBackend(url, token=token) if url else self.backend
        if not isinstance(backend, RemoteBackend):
            raise MedPCLIPError("the current backend is local; give a server URL to test")
        return backend.test_connection()

    # -- volume / prompt preparation (main thread) ------------------------------------------------
    def volumeData(self, volumeNode) -> VolumeData:
        if volumeNode is None:
            raise MedPCLIPError("select an input volume")
        try:
            affine = mu.volume_world_affine(volumeNode)
            key = (volumeNode.GetID(), mu.volume_content_mtime(volumeNode), np.round(affine, 6).tobytes(),
                   self.modality)
            cached = self._volumeCache.get(volumeNode.GetID())
            if cached is not None and cached[0] == key:
                return cached[1]
            array = mu.volume_array(volumeNode)
        except mu.MRMLGeometryError as exc:
            raise MedPCLIPError(str(exc)) from None
        if array.size == 0:
            raise MedPCLIPError(f"volume '{volumeNode.GetName()}' is empty")
        data = VolumeData(key, array, affine, volumeNode.GetName(), self.modality)
        self._volumeCache = {volumeNode.GetID(): (key, data)}  # one volume's copy is kept
        return data

    def buildPrompt(self, volume: VolumeData, positivePointsRAS=(), negativePointsRAS=(), roiNode=None,
                    mode: str = "2d", sliceViewName: str | None = None, plane: str | None = None) -> dict:
        """The DESIGN section 6 prompt for ``volume`` from world points (lists, arrays or markups nodes) and an
        ROI node. World -> voxel conversion uses the engine's ``to_ijk`` with the volume's world affine (parent
        transforms included), so the prompt is sent in ``ijk`` space; an ROI becomes the voxel box enclosing its
        8 corners (tight for an ROI aligned with the volume, whatever the transforms)."""
        from medpclip.data.geometry import PLANE_AXIS, GeometryError, Orientation, check_inside, to_ijk

        if mode not in ("2d", "3d"):
            raise MedPCLIPError(f"mode must be '2d' or '3d', got {mode!r}")
        try:
            pos, neg = mu.as_points(positivePointsRAS), mu.as_points(negativePointsRAS)
            box_world = mu.roi_box_world(roiNode)
            viewPlane, viewOrigin = mu.slice_view_plane(self.scene, sliceViewName)
        except (ValueError, mu.MRMLGeometryError) as exc:
            raise MedPCLIPError(str(exc)) from None
        if not pos and box_world is None:
            raise MedPCLIPError("place at least one positive point or an ROI box")
        plane = plane or viewPlane or "axial"
        if plane not in PLANE_AXIS:
            raise MedPCLIPError(f"unknown plane {plane!r}; use axial, coronal or sagittal")
        shape_ijk = tuple(int(n) for n in volume.array.shape[::-1])
        points = pos + neg
        ijk = to_ijk(np.array(points), "ras", volume.affine) if points else np.zeros((0, 3))
        for n, (p_ras, p_ijk) in enumerate(zip(points, ijk)):
            try:
                check_inside(p_ijk, shape_ijk)
            except GeometryError:
                kind = "positive" if n < len(pos) else "negative"
                num = n + 1 if n < len(pos) else n + 1 - len(pos)
                raise MedPCLIPError(f"{kind} point {num} at RAS ({', '.join(f'{v:.1f}' for v in p_ras)}) lies outside "
                                    f"volume '{volume.name}'") from None
        prompt: dict[str, Any] = {"space": "ijk", "points": ijk.tolist(),
                                  "point_labels": [1] * len(pos) + [0] * len(neg), "plane": plane, "mode": mode}
        if box_world is not None:
            b = box_world
            corners = np.array([[x, y, z] for x in (b[0], b[3]) for y in (b[1], b[4]) for z in (b[2], b[5])])
            if roiNode is not None:  # the ROI's own corners: tight for an ROI rotated like the volume
                corners = np.array(mu.roi_corners_world(roiNode))
            c = to_ijk(corners, "ras", volume.affine)
            # clipped to the voxel centres of the volume (an ROI may stick out of it)
            lo, hi = np.maximum(c.min(0), 0.0), np.minimum(c.max(0), np.array(shape_ijk) - 1.0)
            if np.any(lo > hi):
                raise MedPCLIPError(f"ROI '{roiNode.GetName()}' does not overlap volume '{volume.name}'")
            box = lo.tolist() + hi.tolist()
            if mode == "2d" and not pos and viewOrigin is not None:
                # a box alone in 2D: segment on the slice shown in the view (flatten the box onto it)
                axis = Orientation.from_affine(volume.affine, shape_ijk).perm[PLANE_AXIS[plane]]
                at = float(np.round(to_ijk(np.array([viewOrigin]), "ras", volume.affine)[0][axis]))
                if box[axis] <= at <= box[axis + 3]:
                    box[axis] = box[axis + 3] = at
            prompt["box"] = box
        return prompt

    # -- segment ------------------------------------------------------------------------------------
    def prepareSegment(self, volumeNode, segmentationNode, segmentId, positivePointsRAS, negativePointsRAS=(),
                       roiNode=None, mode: str = "2d", sliceViewName: str | None = None,
                       useSegmentAsMask: bool = False, allowEmpty: bool = False, segmentName: str | None = None,
                       plane: str | None = None) -> Job:
        if segmentationNode is None:
            raise MedPCLIPError("select a segmentation")
        volume = self.volumeData(volumeNode)
        prompt = self.buildPrompt(volume, positivePointsRAS, negativePointsRAS, roiNode, mode, sliceViewName, plane)
        exists = mu.has_segment(segmentationNode, segmentId)
        if segmentId and not exists:
            raise MedPCLIPError(f"segment '{segmentId}' is not in '{segmentationNode.GetName()}'")
        prior = None
        if useSegmentAsMask:
            try:
                current = mu.segment_array(segmentationNode, segmentId, volumeNode) if exists else None
            except mu.MRMLGeometryError as exc:
                raise MedPCLIPError(str(exc)) from None
            if current is None or not current.any():
                raise MedPCLIPError("'use segment as mask prompt' needs a non-empty selected segment")
            prior = current
        backend = self.backend

        def compute() -> SegmentOutput:
            t0 = time.perf_counter()
            out = backend.segment(volume, prompt, prior)
            out.info["seconds"] = time.perf_counter() - t0
            return out

        def apply(out: SegmentOutput) -> float:
                return self._applySegmentation("segment", volumeNode, segmentationNode, segmentId, out, mode,
                                           allowEmpty, segmentName)

        return Job("segment", compute, apply, f"{mode.upper()} segmentation")

    def segment(self, volumeNode, segmentationNode, segmentId, positivePointsRAS, negativePointsRAS=(),
                roiNode=None, mode: str = "2d", sliceViewName: str | None = None, useSegmentAsMask: bool = False,
                allowEmpty: bool = False, segmentName: str | None = None, plane: str | None = None) -> float:
        """Segment from prompts and write the result into ``segmentId`` (None: a new segment); returns the
        predicted quality score (0..1). Points are RAS world coordinates (lists, arrays or markups nodes); the
        ROI node gives a box. 2D replaces the prompted slice of the segment, 3D the whole segment.
        ``lastResult.segmentId`` names the written segment."""
        return self.prepareSegment(volumeNode, segmentationNode, segmentId, positivePointsRAS, negativePointsRAS,
                                   roiNode, mode, sliceViewName, useSegmentAsMask, allowEmpty, segmentName,
                                   plane).run()

    def _applySegmentation(self, kind, volumeNode, segmentationNode, segmentId, out: SegmentOutput, mode,
                           allowEmpty, segmentName) -> float:
        mask = np.asarray(out.mask, np.uint8)
        shape = mu.volume_array_shape(volumeNode)
        if mask.shape != shape:
            raise MedPCLIPError(f"result shape {mask.shape} does not match the volume {shape}; nothing written")
        if not mask.any() and not allowEmpty:
            raise MedPCLIPError(f"no region found at the prompt (quality {out.score:.2f}); "
                                "the segment was left unchanged - try another point or a box")
        exists = mu.has_segment(segmentationNode, segmentId)
        if mode == "2d" and exists:
            # 2D: the result replaces the prompted slice; the segment's other slices are kept
            slab = self._slab(volumeNode, shape, out.plane, out.slice_index, mask)
            if slab is not None:
                merged = mu.segment_array(segmentationNode, segmentId, volumeNode)
                merged[slab] = mask[slab]
                mask = merged
        created = not mu.has_segment(segmentationNode, segmentId)
        record = _UndoRecord(f"{kind} {'new segment' if created else segmentId}", segmentationNode.GetID(),
                             segmentId or "", created)
        mu.ensure_reference_geometry(segmentationNode, volumeNode)
        seg = segmentationNode.GetSegmentation()
        if created:
            name = segmentName or self._newSegmentName(segmentationNode)
            segmentId = seg.AddEmptySegment(segmentId or "", name)
            record.segmentId = segmentId
        else:
            record.snapshot = mu.segment_snapshot(segmentationNode, segmentId)
        try:
            mu.write_segment(segmentationNode, segmentId, mask, volumeNode)
        except Exception as exc:
            self._rollback(segmentationNode, record)
            raise MedPCLIPError(f"could not write the result: {exc}") from exc
        self._pushUndo(record)
        self.lastResult = LastResult(kind, segmentationNode.GetID(), segmentId, float(out.score), int(mask.sum()),
                                     out.plane, out.slice_index, float(out.info.get("seconds", 0.0)), out.info)
        return float(out.score)

    @staticmethod
    def _slab(volumeNode, shape, plane: str, slice_index: int | None, mask: np.ndarray):
        """Index expression of the prompted slice (a plane of the input array), from the engine's geometry;
        None when it cannot be known (then the whole segment is replaced)."""
        from medpclip.data.geometry import PLANE_AXIS, Orientation

        affine = mu.volume_world_affine(volumeNode)
        orient = Orientation.from_affine(affine, (shape[2], shape[1], shape[0]))
        array_axis = 2 - orient.perm[PLANE_AXIS.get(plane, 2)]
        if slice_index is None:  # a server that does not report the slice: the mask's own plane
            used = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != array_axis)))
            if len(used) != 1:
                return None
            slice_index = int(used[0])
        index: list[Any] = [slice(None)] * 3
        index[array_axis] = int(slice_index)
        return tuple(index)

    @staticmethod
    def _newSegmentName(segmentationNode) -> str:
        seg = segmentationNode.GetSegmentation()
        names = {seg.GetNthSegment(n).GetName() for n in range(seg.GetNumberOfSegments())}
        n = 1
        while f"MedPCLIP {n}" in names:
            n += 1
        return f"MedPCLIP {n}"

    # -- identify -----------------------------------------------------------------------------------
    def prepareIdentify(self, volumeNode, segmentationNode, segmentId, topK: int = 5,
                        vocabulary: list[str] | None = None) -> Job:
        if segmentationNode is None or not mu.has_segment(segmentationNode, segmentId):
            raise MedPCLIPError("select a segment to identify")
        volume = self.volumeData(volumeNode)
        try:
            mask = mu.segment_array(segmentationNode, segmentId, volumeNode)
        except mu.MRMLGeometryError as exc:
            raise MedPCLIPError(str(exc)) from None
        if not mask.any():
            name = segmentationNode.GetSegmentation().GetSegment(segmentId).GetName()
            raise MedPCLIPError(f"segment '{name}' is empty inside volume '{volumeNode.GetName()}': nothing to identify")
        vocab = vocabulary if vocabulary is not None else self.vocabulary
        backend = self.backend

        def compute():
            return backend.identify(volume, mask, vocab, int(topK))

        def apply(ranking):
            self.lastIdentification = list(ranking)
            return [(r["name"], float(r["score"])) for r in ranking]

        return Job("identify", compute, apply, "identify")

    def identify(self, volumeNode, segmentationNode, segmentId, topK: int = 5,
                 vocabulary: list[str] | None = None) -> list[tuple[str, float]]:
        """Ranked names [(name, probability), ...] for a segment (vocabulary: names to rank, or the model's)."""
        return self.prepareIdentify(volumeNode, segmentationNode, segmentId, topK, vocabulary).run()

    def applyName(self, segmentationNode, segmentId, name: str, conceptId: str | None = None) -> bool:
        """Name the segment (undoable); also set a standard terminology entry when Slicer's terminology module
        knows the name. Returns whether a terminology entry was set."""
        if segmentationNode is None or not mu.has_segment(segmentationNode, segmentId):
            raise MedPCLIPError("select a segment to name")
        if not name or not str(name).strip():
            raise MedPCLIPError("the name is empty")
        segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
        tag = slicer.vtkSegment.GetTerminologyEntryTagName()
        old_tags = {tag: _get_tag(segment, tag)} if segment.HasTag(tag) else {}
        record = _UndoRecord(f"rename {segment.GetName()}", segmentationNode.GetID(), segmentId, False,
                             oldName=segment.GetName(), restoreContent=False, oldTags=old_tags)
        segment.SetName(str(name).strip())
        entry = self._terminologyEntry(str(name).strip(), conceptId)
        if entry:
            if hasattr(segment, "SetTerminology"):
                segment.SetTerminology(entry)
            else:
                segment.SetTag(tag, entry)
        self._pushUndo(record)
        return bool(entry)

    @staticmethod
    def _terminologyEntry(name: str, conceptId: str | None) -> str | None:
        """Serialized terminology entry from Slicer's loaded terminologies (matched by 3D Slicer label)."""
        try:
            termLogic = slicer.modules.terminologies.logic()
        except Exception:
            return None  # no terminology module (e.g. slicer-core outside the app)
        try:
            import vtk

            names = vtk.vtkStringArray()
            termLogic.GetLoadedTerminologyNames(names)
            contexts = [names.GetValue(n) for n in range(names.GetNumberOfValues())]
            contexts.sort(key=lambda c: 0 if "General Anatomy" in c else 1)
            entry = slicer.vtkSlicerTerminologyEntry()
            candidates = [name, name.lower()] + ([conceptId.replace("_", " ")] if conceptId else [])
            for context in contexts:
                for label in candidates:
                    if termLogic.FindTypeInTerminologyBy3dSlicerLabel(context, label, entry):
                        return termLogic.SerializeTerminologyEntry(entry)
        except Exception as exc:  # terminology is a nicety; never fail naming because of it
            log.debug("terminology lookup failed: %s", exc)
        return None

    # -- find ---------------------------------------------------------------------------------------
    def prepareFind(self, volumeNode, text: str, segmentationNode, mode: str = "3d") -> Job:
        if segmentationNode is None:
            raise MedPCLIPError("select a segmentation")
        if not isinstance(text, str) or not text.strip():
            raise MedPCLIPError("type what to find (for example 'liver')")
        volume = self.volumeData(volumeNode)
        backend = self.backend
        text = text.strip()

        def compute():
            t0 = time.perf_counter()
            out = backend.find(volume, text, mode)
            out.info["seconds"] = time.perf_counter() - t0
            return out

        def apply(out: SegmentOutput) -> str:
            self._applySegmentation("find", volumeNode, segmentationNode, None, out, mode, False, text)
            return self.lastResult.segmentId

        return Job("find", compute, apply, f"find '{text}'")

    def find(self, volumeNode, text: str, segmentationNode, mode: str = "3d") -> str:
        """Segment the structure described by ``text`` into a new segment named after it; returns its id."""
        return self.prepareFind(volumeNode, text, segmentationNode, mode).run()

    # -- threads ------------------------------------------------------------------------------------
    def submit(self, job: Job) -> Future:
        """Run ``job.compute`` on the logic's worker thread; call ``job.apply(future.result())`` on the main
        thread when the future is done."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medpclip-logic")
        return self._executor.submit(job.compute)

    # -- undo ---------------------------------------------------------------------------------------
    def _pushUndo(self, record: _UndoRecord) -> None:
        self._undo.append(record)
        del self._undo[:-UNDO_DEPTH]

    @property
    def canUndo(self) -> bool:
        return bool(self._undo)

    def undoDescription(self) -> str:
        return self._undo[-1].description if self._undo else ""

    def _rollback(self, segmentationNode, record: _UndoRecord) -> None:
        seg = segmentationNode.GetSegmentation()
        if record.created:
            if seg.GetSegment(record.segmentId) is not None:
                seg.RemoveSegment(record.segmentId)
            return
        segment = seg.GetSegment(record.segmentId)
        if segment is None:
            raise MedPCLIPError(f"segment '{record.segmentId}' no longer exists; nothing to undo")
        if record.restoreContent:
            mu.restore_segment(segmentationNode, record.segmentId, record.snapshot)
        if record.oldName is not None:
            segment.SetName(record.oldName)
            tag = slicer.vtkSegment.GetTerminologyEntryTagName()
            if tag in record.oldTags:
                segment.SetTag(tag, record.oldTags[tag])
            elif segment.HasTag(tag):
                segment.RemoveTag(tag)

    def undo(self) -> str:
        """Undo the last result (segment written, segment created, or name applied); returns what was undone."""
        if not self._undo:
            raise MedPCLIPError("nothing to undo")
        record = self._undo.pop()
        node = self.scene.GetNodeByID(record.segmentationNodeID)
        if node is None:
            raise MedPCLIPError("the segmentation of the last result was deleted; nothing to undo")
        self._rollback(node, record)
        return record.description

    def clearUndo(self) -> None:
        self._undo.clear()

    def cleanup(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self.backend is not None:
            self.backend.close()
        self._volumeCache.clear()

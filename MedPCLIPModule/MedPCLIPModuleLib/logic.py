"""``MedPCLIPLogic``: the scriptable logic of the MedPCLIP module (usable from Slicer's Python console and in tests
on PyPI ``slicer-core``). No Qt here. It owns the backend choice, the job runner and the undo stack; the jobs
themselves live in ``segment.py`` (segment, find) and ``identify.py`` (identify, naming).

Each operation has three steps (``jobs.Job``), so the widget can keep the GUI responsive:

1. ``prepare*`` (main thread): read the MRML nodes -> plain arrays, world affine, a DESIGN section 6 prompt;
2. ``job.compute()`` (any thread): the backend call (engine in-process, or the MONAI Label server);
3. ``job.apply(result)`` (main thread): write the result into the segment, remember how to undo it.

``segment`` / ``identify`` / ``find`` run the three steps in a row; ``jobs`` (a ``JobRunner``) runs them one at a
time on a worker thread. Nothing is written unless step 2 succeeded, and only the target segment is ever
written: other segments are never modified.

Example (Slicer Python console)::

    from MedPCLIPModuleLib.logic import MedPCLIPLogic
    logic = MedPCLIPLogic()                      # local backend, default checkpoint, CUDA when present
    vol = getNode("CTACardio"); seg = getNode("Segmentation")
    score = logic.segment(vol, seg, None, [[10.0, 40.0, -120.0]], mode="3d")
    logic.identify(vol, seg, logic.lastResult.segmentId)   # [('liver', 0.91), ...]
    logic.undo()
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

import slicer

from . import identify as identify_job
from . import mrml_util as mu
from .backends import LocalBackend, MedPCLIPError, RemoteBackend, VolumeData
from .jobs import Job, JobRunner
from .segment import LastResult, Target, build_prompt, segment_prior, strokes_map, writing_job
from .undo import UndoStack

__all__ = ["Job", "LastResult", "MedPCLIPError", "MedPCLIPLogic"]


class MedPCLIPLogic:
    """Segment from point / box / mask prompts, identify a segment, find a structure by text; with undo."""

    def __init__(self, backend=None, scene=None, checkpoint: str | None = None, device: str = "auto",
                 modality: str | None = None) -> None:
        self._scene = scene
        self._backend = backend               # None: the local backend, made on first use
        self._backendKey: tuple | None = None  # what ``chooseBackend`` made the current backend from
        self._checkpoint, self._device = checkpoint, device
        self.modality = modality              # None: the engine guesses CT / MR from the intensities
        self.vocabulary: list[str] | None = None  # None: the checkpoint's vocabulary
        self.lastResult: LastResult | None = None
        self.lastIdentification: list[dict] = []
        self.undoStack = UndoStack()
        self.jobs = JobRunner()
        self._volumeCache: dict[str, tuple[tuple, VolumeData]] = {}

    # -- configuration ----------------------------------------------------------------------------
    @property
    def scene(self):
        return self._scene if self._scene is not None else slicer.mrmlScene

    @property
    def backend(self):
        if self._backend is None:
            self.useLocal(self._checkpoint, self._device)
        return self._backend

    def setBackend(self, backend) -> None:
        """A backend object, "local", or a MONAI Label URL (http://host:port)."""
        if isinstance(backend, str):
            if backend == "local":
                return self.useLocal()
            backend = RemoteBackend(backend)
        old, self._backend = self._backend, backend
        self._backendKey = None
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

    def chooseBackend(self, remote: bool, url: str = "", token: str | None = None,
                      checkpoint: str | None = None):
        """The backend the module panel describes (a MONAI Label server at ``url`` with ``token``, or the local
        engine with ``checkpoint``, default: the bundled one); the current backend is kept while the choice is
        unchanged (its sessions / uploads stay cached)."""
        key = ("remote", (url or "").strip(), token) if remote else ("local", checkpoint or None)
        if key != self._backendKey or self._backend is None:
            if remote:
                self.useRemote(key[1], token=token)
            else:
                self.useLocal(key[1], self._device)
            self._backendKey = key
        return self._backend

    def testConnection(self, url: str | None = None, token: str | None = None) -> dict:
        """Check a MONAI Label server (or the current remote backend); raises MedPCLIPError with the reason."""
        backend = RemoteBackend(url, token=token) if url else self.backend
        if not isinstance(backend, RemoteBackend):
            raise MedPCLIPError("the current backend is local; give a server URL to test")
        return backend.test_connection()

    # -- volume (main thread) ---------------------------------------------------------------------
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
        data = VolumeData(key, array, affine, volumeNode.GetName(), self.modality, mu.volume_patient_id(volumeNode))
        self._volumeCache = {volumeNode.GetID(): (key, data)}  # one volume's copy is kept
        return data

    def buildPrompt(self, positivePointsRAS=(), negativePointsRAS=(), roiNode=None, mode: str = "2d",
                    sliceViewName: str | None = None, plane: str | None = None, lassoNode=None,
                    hasStrokes: bool = False) -> dict:
        """The DESIGN section 6 prompt, in world ``ras``, that ``segment`` sends (see ``segment.build_prompt``)."""
        return build_prompt(self.scene, positivePointsRAS, negativePointsRAS, roiNode, mode, sliceViewName, plane,
                            lassoNode, hasStrokes)

    # -- segment / find ---------------------------------------------------------------------------
    def prepareSegment(self, volumeNode, segmentationNode, segmentId, positivePointsRAS, negativePointsRAS=(),
                       roiNode=None, mode: str = "2d", sliceViewName: str | None = None,
                       useSegmentAsMask: bool = False, allowEmpty: bool = False, segmentName: str | None = None,
                       plane: str | None = None, lassoNode=None, positiveStrokeId: str | None = None,
                       negativeStrokeId: str | None = None, strokeNode=None, alternative: int = 0) -> Job:
        if segmentationNode is None:
            raise MedPCLIPError("select a segmentation")
        volume = self.volumeData(volumeNode)
        strokes = strokes_map(strokeNode or segmentationNode, positiveStrokeId, negativeStrokeId, volumeNode)
        prompt = self.buildPrompt(positivePointsRAS, negativePointsRAS, roiNode, mode, sliceViewName, plane,
                                  lassoNode, strokes is not None)
        if alternative:  # one click's other answer (the engine checks that the prompt is one click alone)
            prompt["alternative"] = int(alternative)
        if segmentId and not mu.has_segment(segmentationNode, segmentId):
            raise MedPCLIPError(f"segment '{segmentId}' is not in '{segmentationNode.GetName()}'")
        prior = segment_prior(segmentationNode, segmentId, volumeNode) if useSegmentAsMask else None
        backend = self.backend
        target = Target(volumeNode, segmentationNode, segmentId, mode, allowEmpty, segmentName)
        call = (lambda: backend.segment(volume, prompt, prior, strokes)) if strokes is not None \
            else (lambda: backend.segment(volume, prompt, prior))
        return writing_job("segment", call, target, self.undoStack, lambda result: self._recordResult(result).score)

    def segment(self, volumeNode, segmentationNode, segmentId, positivePointsRAS, negativePointsRAS=(),
                roiNode=None, mode: str = "2d", sliceViewName: str | None = None, useSegmentAsMask: bool = False,
                allowEmpty: bool = False, segmentName: str | None = None, plane: str | None = None, lassoNode=None,
                positiveStrokeId: str | None = None, negativeStrokeId: str | None = None, strokeNode=None,
                alternative: int = 0) -> float:
        """Segment from prompts and write the result into ``segmentId`` (None: a new segment); returns the
        predicted quality score (0..1). Points are RAS world coordinates (lists, arrays or markups nodes); the
        ROI node gives a box, a closed-curve node a lasso; ``positiveStrokeId`` / ``negativeStrokeId`` name
        segments painted as strokes (issue 14), in ``strokeNode`` (default: ``segmentationNode``). 2D replaces the prompted slice of the
        segment, 3D the whole segment. ``lastResult.segmentId`` names the written segment. ``alternative``: for one
        positive point alone, the model's next-best answer (1, 2; ``lastResult.alternatives`` says how many)."""
        return self.prepareSegment(volumeNode, segmentationNode, segmentId, positivePointsRAS, negativePointsRAS,
                                   roiNode, mode, sliceViewName, useSegmentAsMask, allowEmpty, segmentName,
                                   plane, lassoNode, positiveStrokeId, negativeStrokeId, strokeNode,
                                   alternative).run()

    def prepareFind(self, volumeNode, text: str, segmentationNode, mode: str = "3d") -> Job:
        if segmentationNode is None:
            raise MedPCLIPError("select a segmentation")
        if not isinstance(text, str) or not text.strip():
            raise MedPCLIPError("type what to find (for example 'liver')")
        volume = self.volumeData(volumeNode)
        backend = self.backend
        text = text.strip()
        target = Target(volumeNode, segmentationNode, None, mode, False, text)
        return writing_job("find", lambda: backend.find(volume, text, mode), target, self.undoStack,
                           lambda result: self._recordResult(result).segmentId)

    def find(self, volumeNode, text: str, segmentationNode, mode: str = "3d") -> str:
        """Segment the structure described by ``text`` into a new segment named after it; returns its id."""
        return self.prepareFind(volumeNode, text, segmentationNode, mode).run()

    def _recordResult(self, result: LastResult) -> LastResult:
        self.lastResult = result
        return result

    # -- identify / name --------------------------------------------------------------------------
    def prepareIdentify(self, volumeNode, segmentationNode, segmentId, topK: int = 5,
                        vocabulary: list[str] | None = None) -> Job:
        if segmentationNode is None or not mu.has_segment(segmentationNode, segmentId):
            raise MedPCLIPError("select a segment to identify")
        volume = self.volumeData(volumeNode)
        mask = identify_job.segment_mask(volumeNode, segmentationNode, segmentId)
        vocab = vocabulary if vocabulary is not None else self.vocabulary
        backend = self.backend

        def apply(ranking):
            self.lastIdentification = list(ranking)
            return [(r["name"], float(r["score"])) for r in ranking]

        return Job(lambda: backend.identify(volume, mask, vocab, int(topK)), apply)

    def identify(self, volumeNode, segmentationNode, segmentId, topK: int = 5,
                 vocabulary: list[str] | None = None) -> list[tuple[str, float]]:
        """Ranked names [(name, probability), ...] for a segment (vocabulary: names to rank, or the model's)."""
        return self.prepareIdentify(volumeNode, segmentationNode, segmentId, topK, vocabulary).run()

    def prepareNameAll(self, volumeNode, segmentationNode, vocabulary: list[str] | None = None) -> Job:
        """Name every non-empty segment at once, a different name each (``identify_together``); one undo step."""
        volume = self.volumeData(volumeNode)
        ids, labels = identify_job.segment_labels(volumeNode, segmentationNode)
        vocab = vocabulary if vocabulary is not None else self.vocabulary
        backend = self.backend

        def compute():
            by_value = {c.get("value"): c for c in backend.identify_together(volume, labels, vocab, 5)}
            covered = [n for n in range(1, len(ids) + 1) if n not in by_value]
            if covered:  # a segment wholly under later ones has no voxel of its own in the label map
                raise MedPCLIPError(f"no name for segment(s) {covered}: covered by later segments (or an older "
                                    "server); name them one at a time")
            return [by_value[n] for n in range(1, len(ids) + 1)]

        def apply(named):
            entries = [(sid, c["name"], c.get("id")) for sid, c in zip(ids, named)]
            identify_job.apply_names(segmentationNode, entries, self.undoStack)
            return [(c["name"], float(c["score"]), c.get("alone")) for c in named]

        return Job(compute, apply)

    def nameAllSegments(self, volumeNode, segmentationNode, vocabulary: list[str] | None = None) -> list[tuple]:
        """Name every segment together (undoable as one step): [(name, probability, name it would get alone)]."""
        return self.prepareNameAll(volumeNode, segmentationNode, vocabulary).run()

    def applyName(self, segmentationNode, segmentId, name: str, conceptId: str | None = None) -> bool:
        """Name the segment (undoable); also set a standard terminology entry when Slicer's terminology module
        knows the name. Returns whether a terminology entry was set."""
        return identify_job.apply_name(segmentationNode, segmentId, name, conceptId, self.undoStack)

    # -- threads ----------------------------------------------------------------------------------
    def submit(self, job: Job) -> Future:
        """Run ``job.compute`` on the logic's worker thread; call ``job.apply(future.result())`` on the main
        thread when the future is done (``jobs.request`` / ``jobs.poll`` do both, one job at a time)."""
        return self.jobs.submit(job)

    @property
    def _executor(self):
        """The job runner's worker pool (None until the first job)."""
        return self.jobs._executor

    # -- undo -------------------------------------------------------------------------------------
    @property
    def canUndo(self) -> bool:
        return bool(self.undoStack)

    def undoDescription(self) -> str:
        return self.undoStack.description()

    def undo(self) -> str:
        """Undo the last result (segment written, segment created, or name applied); returns what was undone."""
        return self.undoStack.undo(self.scene)

    def clearUndo(self) -> None:
        self.undoStack.clear()

    def cleanup(self) -> None:
        self.jobs.shutdown()
        if self._backend is not None:
            self._backend.close()
        self._volumeCache.clear()

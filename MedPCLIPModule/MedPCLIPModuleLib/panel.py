"""What the module panel's buttons do, without Qt: read the parameter node, check that it is ready, hand the
backend choice to the logic (after the dependencies), give a request to the logic's job runner and say what
happened. The widget (``MedPCLIPModule.py``) binds the parameter node to the GUI and is the ``PanelView``: it only
shows what the panel tells it. Runs on PyPI ``slicer-core`` too (with any object as the view).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable, Protocol

from . import dependencies
from .backends import MedPCLIPError
from .prompts import lassoReady

BACKEND_LOCAL = "Local"
BACKEND_REMOTE = "MONAI Label server"


class PanelView(Protocol):
    """What the panel needs from the GUI (the module widget)."""

    def tr(self, text: str) -> str: ...                     # translation (Slicer's ``slicer.i18n.tr``)
    def setStatus(self, text: str) -> None: ...
    def showError(self, text: str, detail: str = "") -> None: ...
    def confirm(self, text: str, title: str) -> bool: ...
    def installPackages(self, missing: list) -> None: ...   # with a progress dialog; errors shown by the view
    def setBusy(self, busy: bool) -> None: ...              # busy bar, cancel button, polling, buttons
    def showRanking(self, ranking: list[tuple[str, float]]) -> None: ...
    def focusFindText(self) -> None: ...
    def checkpointPath(self) -> str: ...                    # not parameter-node values (application
    def serverToken(self) -> str | None: ...                # setting; a secret never saved with the scene)


class Panel:
    """The module panel's actions on ``parameters`` (the module's parameter node, set by the widget)."""

    def __init__(self, logic, view: PanelView, module_dir: str | None = None) -> None:
        self.logic = logic
        self.view = view
        self.module_dir = module_dir
        self.parameters = None
        self.sliceViewName: str | None = None     # the slice view the last prompt was placed in
        self.strokes = None                       # the front-end's ``strokes.StrokeSegments`` (None: no painting)
        self.lastMode = "2d"                      # the mode of the last segment request (an other answer keeps it)

    # -- state ----------------------------------------------------------------------------------------
    def buttons(self, namesRows: int) -> dict[str, bool]:
        """Which buttons are enabled."""
        p, idle = self.parameters, not self.logic.jobs.busy
        ready = bool(p and p.inputVolume and p.segmentation)
        segment = bool(ready and p.segmentId)
        last = self.logic.lastResult
        return {"segment": ready and idle, "propagate": ready and idle, "identify": segment and idle,
                "applyName": segment and namesRows > 0, "find": ready and idle and bool(p.findText.strip()),
                "undo": self.logic.canUndo and idle, "nameAll": ready and idle,
                "otherAnswer": bool(ready and idle and last is not None and last.kind == "segment"
                                    and last.alternatives > 1)}

    def undoToolTip(self) -> str:
        tr = self.view.tr
        return tr("Undo: ") + self.logic.undoDescription() if self.logic.canUndo else tr("Nothing to undo")

    # -- backend --------------------------------------------------------------------------------------
    def ensureBackend(self) -> bool:
        """Hand the panel's backend choice to the logic; ask to install missing dependencies first."""
        p = self.parameters
        remote = p.backend == BACKEND_REMOTE
        if not self.ensureDependencies("remote" if remote else "local"):
            return False
        checkpoint = self.view.checkpointPath().strip()
        try:
            self.logic.chooseBackend(remote, p.serverUrl, self.view.serverToken(), checkpoint or None)
        except MedPCLIPError as exc:
            self.view.showError(str(exc))
            return False
        return True

    def ensureDependencies(self, backend: str) -> bool:
        tr, view = self.view.tr, self.view
        if not dependencies.ensure_medpclip_on_path(self.module_dir):
            view.showError(tr("The medpclip package is missing from this extension's installation. "
                              "Reinstall the MedPCLIP extension."))
            return False
        missing = dependencies.missing(backend)
        if not missing:
            return True
        text = (tr("MedPCLIP needs these Python packages, which are not installed in Slicer yet:") + "\n\n"
                + dependencies.describe(missing) + "\n\n"
                + tr("Install them now? This downloads several hundred MB (PyTorch) and may take a few minutes. "
                     "Slicer may need a restart afterwards."))
        if not view.confirm(text, tr("MedPCLIP: install dependencies")):
            view.setStatus(tr("Dependencies not installed; the model cannot run."))
            return False
        view.installPackages(missing)
        still = dependencies.missing(backend)
        if still:
            view.showError(tr("Still missing after installation: ") + ", ".join(r.spec for r in still)
                           + tr(". Restart Slicer and try again."))
        return not still

    # -- actions --------------------------------------------------------------------------------------
    def segment(self, force3D: bool = False, quiet: bool = False, alternative: int = 0) -> None:
        """Segment from the prompts (``quiet``: a prompt was placed; say nothing when the panel is not ready;
        ``alternative``: one click's other answer, see ``otherAnswer``)."""
        p, tr = self.parameters, self.view.tr
        if p is None:
            return
        if p.inputVolume is None or p.segmentation is None:
            return None if quiet else self.view.showError(tr("Select an input volume and a segmentation."))
        roi = p.roi if (p.roi is not None and p.roi.GetNumberOfControlPoints() > 0) else None
        positiveStroke, negativeStroke = self.strokes.ids(p) if self.strokes is not None else (None, None)
        lasso = p.lasso if lassoReady(p) else None
        if (p.positivePoints is None or p.positivePoints.GetNumberOfControlPoints() == 0) and roi is None \
                and positiveStroke is None and lasso is None:
            return None if quiet else self.view.showError(
                tr("Place at least one positive point (A) or a box (X), paint a positive stroke (S) or draw a "
                   "lasso (L)."))
        if not self.ensureBackend():
            return
        mode = "3d" if (force3D or p.mode3D) else "2d"
        self.lastMode = mode
        args = (p.inputVolume, p.segmentation, p.segmentId or None, p.positivePoints, p.negativePoints, roi)
        options = {"mode": mode, "sliceViewName": self.sliceViewName, "useSegmentAsMask": p.useSegmentAsMask}
        if alternative:
            options["alternative"] = alternative
        if lasso is not None:
            options["lassoNode"] = lasso
        if positiveStroke or negativeStroke:
            options.update(positiveStrokeId=positiveStroke, negativeStrokeId=negativeStroke, strokeNode=p.strokes)
        self.run(lambda: self.logic.prepareSegment(*args, **options), self.segmentDone,
                 tr("Segmenting ({mode})...").format(mode=mode.upper()))

    def segmentDone(self, score: float) -> None:
        """Select and show the written segment; quality, size, time and the engine's warnings in the status."""
        r = self.logic.lastResult
        if r is None:
            return
        segmentation = self.logic.scene.GetNodeByID(r.segmentationNodeID)
        if segmentation is not None:
            if self.parameters is not None:  # the widget's segment selector follows the parameter node
                self.parameters.segmentation = segmentation
                self.parameters.segmentId = r.segmentId
            display = segmentation.GetDisplayNode()
            if display is not None:
                display.SetSegmentVisibility(r.segmentId, True)
        answer = ""
        if r.alternatives > 1:
            answer = self.view.tr(", answer {k} of {n} (O: other answer)").format(k=r.alternative + 1, n=r.alternatives)
        self.view.setStatus(self.view.tr("Quality {score:.2f}, {voxels} voxels, {n} s").format(
            score=score, voxels=r.voxels, n=f"{r.seconds:.2f}") + answer + "".join("\n" + w for w in r.warnings))

    def otherAnswer(self) -> None:
        """One click is ambiguous (a kidney or its pelvis, a tumour or its core): replace the last result, made from
        one positive point alone, with the model's next answer to the same point (cycling; undo brings it back)."""
        r, tr = self.logic.lastResult, self.view.tr
        if r is None or r.kind != "segment" or r.alternatives < 2:
            return self.view.showError(tr("Other answers are offered for a result made from one positive point alone "
                                          "(no box, negative point, strokes, lasso or segment as mask). Place one "
                                          "point (A), segment, then press O."))
        self.segment(force3D=self.lastMode == "3d", alternative=(r.alternative + 1) % r.alternatives)

    def identify(self) -> None:
        p, tr = self.parameters, self.view.tr
        if not p.segmentId:
            return self.view.showError(tr("Select a segment to identify."))
        if self.ensureBackend():
            args = (p.inputVolume, p.segmentation, p.segmentId, p.topK)
            self.run(lambda: self.logic.prepareIdentify(*args), self.identifyDone, tr("Identifying..."))

    def identifyDone(self, ranking: list[tuple[str, float]]) -> None:
        self.view.showRanking(ranking)
        if ranking:
            self.view.setStatus(self.view.tr("Most likely: {name} ({score:.0%})").format(name=ranking[0][0],
                                                                                         score=ranking[0][1]))

    def nameAll(self) -> None:
        """Name every segment of the segmentation at once, a different name each (one undo step)."""
        p, tr = self.parameters, self.view.tr
        if p is None or p.inputVolume is None or p.segmentation is None:
            return self.view.showError(tr("Select an input volume and a segmentation."))
        if self.ensureBackend():
            args = (p.inputVolume, p.segmentation)
            self.run(lambda: self.logic.prepareNameAll(*args), self.nameAllDone, tr("Naming all segments..."))

    def nameAllDone(self, named: list[tuple]) -> None:
        changed = sum(1 for name, _, alone in named if alone and alone != name)
        self.view.setStatus(self.view.tr("Named {n} segments ({k} named differently than alone); U undoes it").format(
            n=len(named), k=changed))

    def applyName(self, row: int, name: str) -> None:
        """Name the selected segment after row ``row`` (``name``) of the last ranking."""
        p, tr = self.parameters, self.view.tr
        if row < 0 or not p.segmentId:
            return
        ranking = self.logic.lastIdentification
        conceptId = ranking[row].get("id") if row < len(ranking) else None
        try:
            coded = self.logic.applyName(p.segmentation, p.segmentId, name, conceptId)
        except MedPCLIPError as exc:
            return self.view.showError(str(exc))
        self.view.setStatus(tr("Segment named '{name}'").format(name=name) + (tr(" (standard terminology)") if coded
                                                                               else ""))

    def find(self) -> None:
        p, tr = self.parameters, self.view.tr
        if p.inputVolume is None or p.segmentation is None:
            return self.view.showError(tr("Select an input volume and a segmentation."))
        text = p.findText.strip()
        if not text:
            return self.view.focusFindText()
        if self.ensureBackend():
            args = (p.inputVolume, text, p.segmentation, "3d" if p.mode3D else "2d")
            self.run(lambda: self.logic.prepareFind(*args), lambda sid: self.segmentDone(self.logic.lastResult.score),
                     tr("Finding '{text}'...").format(text=text))

    def clearStrokes(self) -> None:
        """Erase the painted strokes (the segments they made are kept)."""
        if self.strokes is not None and self.parameters is not None:
            self.strokes.clear(self.parameters)
            self.view.setStatus(self.view.tr("Strokes cleared."))

    def undo(self) -> None:
        if self.logic.jobs.busy:
            return
        try:
            what = self.logic.undo()
        except MedPCLIPError as exc:
            return self.view.showError(str(exc))
        self.view.setStatus(self.view.tr("Undone: ") + what)

    # -- the logic's job runner, shown ----------------------------------------------------------------
    def run(self, prepare: Callable[[], Any], onDone: Callable[[Any], Any], message: str) -> None:
        """Hand a request to the job runner (the latest request waits while the model is busy)."""
        try:
            if self.logic.jobs.request(prepare, onDone, message):
                self.view.setStatus(message)
                self.view.setBusy(True)
        except Exception as exc:
            self.error(exc, traceback.format_exc(), status=False)

    def poll(self):
        """Called by the widget's timer while a job runs: the elapsed time, then how the job ended (returned:
        the ``jobs.Outcome`` of a job that just ended, else None)."""
        jobs = self.logic.jobs
        outcome = jobs.poll()
        if outcome is None:
            if jobs.busy:
                self.view.setStatus(f"{jobs.message} {jobs.elapsed:.1f} s")
            return None
        if outcome.error is not None:
            self.error(outcome.error, outcome.traceback)
        elif outcome.cancelled:
            self.view.setStatus(self.view.tr("Cancelled; nothing was changed."))
        try:
            jobs.startPending()
        except Exception as exc:
            self.error(exc, traceback.format_exc(), status=False)
        self.view.setBusy(jobs.busy)
        return outcome

    def cancel(self) -> None:
        if self.logic.jobs.cancel():
            self.view.setStatus(self.view.tr("Cancelling: the running result will be discarded..."))

    def error(self, exc: BaseException, detail: str = "", status: bool = True) -> None:
        """A user-facing problem as its one line; anything else as an unexpected error with the traceback."""
        tr = self.view.tr
        if isinstance(exc, MedPCLIPError):
            if status:
                self.view.setStatus(str(exc))
            return self.view.showError(str(exc))
        logging.error(detail)
        if status:
            self.view.setStatus(tr("Error: ") + str(exc))
        self.view.showError(tr("Unexpected error: ") + str(exc), detail)

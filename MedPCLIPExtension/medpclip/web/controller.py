"""What the web page's buttons and clicks do. The page is one more view of the MedPCLIP module's ``Panel``
(``MedPCLIPModuleLib.panel``): the same checks, backend choice, job runner, messages and undo as in 3D Slicer,
with the page's state (a trame ``State`` or, in tests, a dict) as what the panel shows.

Prompts are Slicer markups placed by Slicer's own markups interaction in the slice views (``PromptMarkups``): a
click places a positive point, a Shift-click a negative one, in box mode two clicks place an ROI; every placed
prompt segments again, as in the Slicer module. So the page converts no coordinates: the markups are world
points, and the engine maps them to voxels (DESIGN section 6). In paint mode a drag paints a stroke (Shift: a
negative one) into the module's stroke segments (``StrokeSegments``), whose change segments again, as a stroke
painted with Slicer's Segment Editor does; the drag's display points are mapped to world points by the slice
view's own XY-to-RAS matrix.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, MutableMapping

from ..data.volume import VolumeError
from ..engine.outputs import write_dicom_seg_segments
from ..fileio import atomic_write
from . import module_lib
from .scene import WebScene

log = logging.getLogger(__name__)
panel_lib = module_lib.load("panel")
prompts_lib = module_lib.load("prompts")
strokes_lib = module_lib.load("strokes")
logic_lib = module_lib.load("logic")
MedPCLIPError = logic_lib.MedPCLIPError

POINT, BOX, PAINT = "point", "box", "paint"
SAVE_FORMATS = {"seg.nrrd": ".seg.nrrd", "dicom-seg": ".dcm"}


@dataclass
class WebParameters:
    """What the module's parameter node holds, for one page (the attributes ``Panel`` reads and writes)."""

    inputVolume: Any = None
    segmentation: Any = None
    segmentId: str = ""
    positivePoints: Any = None
    negativePoints: Any = None
    roi: Any = None
    strokes: Any = None
    lasso: Any = None
    mode3D: bool = False
    useSegmentAsMask: bool = False
    autoSegment: bool = True
    topK: int = 5
    findText: str = ""
    backend: str = panel_lib.BACKEND_LOCAL
    serverUrl: str = ""


class PageView:
    """The ``PanelView`` of a page: what the panel says goes into the page state."""

    def __init__(self, state: MutableMapping, checkpoint: str | None = None) -> None:
        self.state = state
        self._checkpoint = checkpoint or ""

    def tr(self, text: str) -> str:
        return text

    def setStatus(self, text: str) -> None:
        self.state["status"] = text

    def showError(self, text: str, detail: str = "") -> None:
        self.state["error"] = text
        if detail:
            log.error("%s\n%s", text, detail)

    def confirm(self, text: str, title: str) -> bool:
        return False  # the page installs nothing: its environment is made by scripts/setup.sh

    def installPackages(self, missing: list) -> None:
        pass

    def setBusy(self, busy: bool) -> None:
        self.state["busy"] = bool(busy)

    def showRanking(self, ranking: list[tuple[str, float]]) -> None:
        self.state["ranking"] = ranking

    def focusFindText(self) -> None:
        self.state["error"] = "type what to find (for example 'liver')"

    def checkpointPath(self) -> str:
        return self._checkpoint

    def serverToken(self) -> str | None:
        return os.environ.get("MEDPCLIP_TOKEN") or None


class WebController:
    """One page: its scene, the module logic and panel, the prompt markups, and the page's actions."""

    def __init__(self, scene: WebScene, state: MutableMapping, server_url: str | None = None,
                 checkpoint: str | None = None, backend=None, out_dir: str | Path = "medpclip-web",
                 modality: str | None = None) -> None:
        self.scene = scene
        self.modality = modality  # None: the DICOM tag, else the engine's guess
        self.state = state
        self.out_dir = Path(out_dir)
        self.logic = logic_lib.MedPCLIPLogic(backend=backend, scene=scene.scene)
        self.view = PageView(state, checkpoint)
        self.panel = panel_lib.Panel(self.logic, self.view)
        self.parameters = WebParameters(backend=panel_lib.BACKEND_REMOTE if server_url else panel_lib.BACKEND_LOCAL,
                                        serverUrl=server_url or "")
        self.panel.parameters = self.parameters
        self.markups = prompts_lib.PromptMarkups(scene.scene, self._prompt_placed)
        self.strokes = strokes_lib.StrokeSegments(scene.scene, self._strokes_changed)
        self.panel.strokes = self.strokes
        self.tool = POINT
        self._stroke: list[list[float]] | None = None  # world points of the stroke being painted
        self._stroke_negative = False
        self._placed: list[tuple[Any, str]] = []   # (markups node, control point id) not yet in a result
        self._points_of: dict[int, list[tuple[Any, str]]] = {}  # id(undo record) -> the points that made it
        self._observed_views: set[str] = set()
        self._pressed = False  # a mouse button is down in a view (its prompt's job has not started yet)
        for key, value in {"status": "Open a volume to start.", "error": "", "busy": False, "ranking": [],
                           "segments": [], "active_segment": "", "volume_name": "", "tool": POINT,
                           "can_undo": False, "can_other_answer": False, "saved": ""}.items():
            state.setdefault(key, value)

    # -- volume ---------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> None:
        """Open an image / DICOM folder; a file that cannot be read leaves the page as it was."""
        if self.logic.jobs.busy:
            return self.view.showError("wait for the running job to finish")
        try:
            opened = self.scene.open(path)
        except (VolumeError, OSError, ValueError) as exc:
            return self.view.showError(f"cannot open {Path(path).name}: {exc}")
        p = self.parameters
        p.inputVolume, p.segmentation, p.segmentId = opened.node, self.scene.segmentation, ""
        p.positivePoints = p.negativePoints = p.roi = p.strokes = p.lasso = None
        self.strokes.unwatch()
        self.logic.modality = self.modality or (opened.volume.modality if opened.volume.is_dicom else None)
        self.logic.clearUndo()
        self._placed, self._points_of = [], {}
        self._observe_views()
        self.set_tool(self.tool)
        self.state.update({"volume_name": opened.path.name, "error": "", "ranking": [], "saved": ""})
        self.view.setStatus(f"{opened.path.name}: {' x '.join(map(str, opened.volume.array.shape[::-1]))} voxels. "
                            "Click: positive point, Shift-click: negative point.")
        self._refresh()

    # -- prompts --------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """``point``: clicks place points (Shift: negative); ``box``: two clicks place the box's corners;
        ``paint``: a drag paints a positive stroke (Shift: negative)."""
        if tool not in (POINT, BOX, PAINT):
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = self.state["tool"] = tool
        if self.parameters.inputVolume is None:
            return
        if tool == PAINT:
            prompts_lib.PromptMarkups.stopPlacing(self.scene.scene.GetNodeByID("vtkMRMLInteractionNodeSingleton"))
            return
        self._place("roi" if tool == BOX else "positive")

    def _place(self, kind: str) -> None:
        selection = self.scene.scene.GetNodeByID("vtkMRMLSelectionNodeSingleton")
        interaction = self.scene.scene.GetNodeByID("vtkMRMLInteractionNodeSingleton")
        self.markups.place(self.parameters, kind, selection, interaction)
        if kind != "roi":  # both point lists exist from the start, so Shift-click can switch to the other one
            self.markups.node(self.parameters, "negative" if kind == "positive" else "positive")
        self.markups.watch(self.parameters)

    def _observe_views(self) -> None:
        """Before Slicer's markups interaction sees a press: which view it is in, and Shift -> negative point."""
        for plane, view in self.scene.slice_views().items():
            if plane in self._observed_views:
                continue
            name = self.scene.view_name(plane)
            iren = view.interactor()
            tags: dict[str, int] = {}
            tags["press"] = iren.AddObserver("LeftButtonPressEvent", lambda obj, _e, name=name, v=view, t=tags:
                                             self._on_press(obj, name, v, t["press"]), 10.0)
            tags["move"] = iren.AddObserver("MouseMoveEvent", lambda obj, _e, v=view, t=tags:
                                            self._on_move(obj, v, t["move"]), 10.0)
            tags["release"] = iren.AddObserver("LeftButtonReleaseEvent", lambda obj, _e, t=tags:
                                               self._on_release(obj, t["release"]), 10.0)
            self._observed_views.add(plane)

    def _on_press(self, iren, view_name: str, view=None, tag: int | None = None) -> None:
        log.debug("press in %s at %s, shift %s", view_name, iren.GetEventPosition(), iren.GetShiftKey())
        self.panel.sliceViewName = view_name
        if self.tool == PAINT:
            if self.parameters.inputVolume is not None:
                self._stroke, self._stroke_negative = [self._world(iren, view)], bool(iren.GetShiftKey())
            return self._abort(iren, tag)  # no window / level drag under the brush
        self._pressed = True
        self.scene.hold_renders()  # until the prompt's answer is in (poll)
        if self.tool == POINT and self.parameters.inputVolume is not None:
            self._place("negative" if iren.GetShiftKey() else "positive")
            self._on_release(iren)

    def _on_move(self, iren, view, tag: int) -> None:
        if self._stroke is not None:
            self._stroke.append(self._world(iren, view))
            self._abort(iren, tag)

    def _on_release(self, iren, tag: int | None = None) -> None:
        if self.tool == PAINT:
            if self._stroke is not None:
                stroke, self._stroke = self._stroke, None
                self.paint(stroke, negative=self._stroke_negative)
            return self._abort(iren, tag)
        self._pressed = False  # a placement and its job start right after, in this same event
        # Slicer's markups interaction places no point on a modified click: the Shift that chose the negative
        # list is taken off the event before the interaction sees it
        if self.tool == POINT:
            iren.SetShiftKey(0)

    @staticmethod
    def _abort(iren, tag: int | None) -> None:
        if tag is not None:
            iren.GetCommand(tag).SetAbortFlag(1)

    @staticmethod
    def _world(iren, view) -> list[float]:
        """The event's display position in ``view`` as a world (RAS) point on the view's slice."""
        x, y = iren.GetEventPosition()
        m = view.get_view_node().GetXYToRAS()
        return [m.GetElement(r, 0) * x + m.GetElement(r, 1) * y + m.GetElement(r, 3) for r in range(3)]

    def paint(self, stroke_ras: list[list[float]], negative: bool = False) -> None:
        """Paint a stroke (world points along it) into the stroke segments; its change segments again."""
        if self.logic.jobs.busy:
            self.view.setStatus("Busy: the latest prompt runs when the current job ends.")
        try:
            painted = self.strokes.paint(self.parameters, stroke_ras, positive=not negative)
        except (ValueError, logic_lib.mu.MRMLGeometryError) as exc:
            return self.view.showError(str(exc))
        if not painted:
            self.view.showError("The stroke lies outside the image: nothing painted.")
        self._refresh()

    def clear_strokes(self) -> None:
        self.panel.clearStrokes()
        self._refresh()

    def _strokes_changed(self, _caller, _event=None) -> None:
        """A stroke segment changed (painted here, or with Slicer's Segment Editor): segment again."""
        self.scene.hold_renders()
        self.panel.segment(quiet=True)

    def _prompt_placed(self, caller, _event=None) -> None:
        """A point or a box was placed: segment again (as the module's auto-segment does)."""
        log.debug("placed on %s (%d points)", caller.GetName(), caller.GetNumberOfControlPoints())
        if caller.IsA("vtkMRMLMarkupsROINode") and sorted(caller.GetSize())[1] <= 0:
            return  # the first corner of a box: wait for the second
        if caller.IsA("vtkMRMLMarkupsFiducialNode") and caller.GetNumberOfControlPoints():
            self._placed.append((caller, caller.GetNthControlPointID(caller.GetNumberOfControlPoints() - 1)))
        if self.logic.jobs.busy:
            self.view.setStatus("Busy: the latest prompt runs when the current job ends.")
        if self.markups.autoSegment(self.parameters, caller):
            self.panel.segment(quiet=True)
        elif caller.IsA("vtkMRMLMarkupsFiducialNode"):
            self._drop_placed()
            self.view.showError("Place a positive point (click) before a negative one (Shift-click).")
        self._refresh()

    def _drop_placed(self) -> None:
        """A prompt that could not be answered leaves no point behind (the segments are unchanged)."""
        remove_points(self._placed)
        self._placed = []

    # -- actions --------------------------------------------------------------------------------------
    def propagate(self) -> None:
        self.state["error"] = ""
        self.panel.segment(force3D=True)

    def other_answer(self) -> None:  # the model's next answer to the last result's one point (O in Slicer)
        self.state["error"] = ""
        self.panel.otherAnswer()

    def new_segment(self) -> None:
        """The next prompt starts a new segment (the current one is kept as it is)."""
        self.parameters.segmentId = ""
        self.markups.clearPoints(self.parameters)
        self.strokes.clear(self.parameters)
        roi = self.parameters.roi
        if roi is not None:
            roi.RemoveAllControlPoints()
        self.state.update({"active_segment": "", "ranking": []})
        self.view.setStatus("New segment: click in a view.")

    def select_segment(self, segment_id: str) -> None:
        if segment_id and segment_id not in {s["id"] for s in self.scene.segments()}:
            return self.view.showError(f"segment '{segment_id}' is not in the segmentation")
        self.new_segment()
        self.parameters.segmentId = segment_id
        self.state["active_segment"] = segment_id

    def undo(self) -> None:
        """Undo the last result and remove the points that made it."""
        newest = self.logic.undoStack.newest
        self.panel.undo()
        if newest is not None and newest is not self.logic.undoStack.newest:
            remove_points(self._points_of.pop(id(newest), []))
        if self.parameters.segmentId not in {s["id"] for s in self.scene.segments()}:
            self.parameters.segmentId = ""  # the undone result had created the segment
        self._refresh()

    def identify(self) -> None:
        self.state["error"] = ""
        self.panel.identify()

    def name_all(self) -> None:  # every segment at once, a different name each (Shift+N in Slicer)
        self.state["error"] = ""
        self.panel.nameAll()

    def apply_name(self, row: int) -> None:
        ranking = self.state.get("ranking") or []
        if not 0 <= row < len(ranking):
            return self.view.showError("pick a name from the list")
        self.panel.applyName(row, ranking[row][0])
        self._refresh()

    def find(self, text: str) -> None:
        self.state["error"] = ""
        self.parameters.findText = text or ""
        self.panel.find()

    def save(self, fmt: str) -> Path | None:
        """Write the segments (``seg.nrrd``: names and colours kept; ``dicom-seg``: coded, for DICOM input) into
        the output folder; returns the file, None (and an error in the page) when it cannot be written."""
        current = self.scene.current
        try:
            if current is None or not self.scene.segments():
                raise MedPCLIPError("nothing to save: segment something first")
            if fmt not in SAVE_FORMATS:
                raise MedPCLIPError(f"unknown format {fmt!r} (choose {', '.join(SAVE_FORMATS)})")
            path = self.out_dir / (current.path.name.split(".")[0] + SAVE_FORMATS[fmt])
            if fmt == "dicom-seg":
                write_dicom_seg_segments(self.scene.segment_masks(), current.volume, path)
            else:
                atomic_write(path, lambda target: write_seg_nrrd(self.scene.segmentation, target))
        except (MedPCLIPError, VolumeError, OSError) as exc:
            self.view.showError(f"not saved: {exc}")
            return None
        self.state["saved"] = str(path)
        self.view.setStatus(f"Saved {path}")
        return path

    # -- job runner -----------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Called while a job runs (the page's timer, or tests): shows progress and applies a finished result.
        Returns whether a job is still running."""
        newest = self.logic.undoStack.newest
        outcome = self.panel.poll()
        if outcome is not None:
            log.debug("job '%s' ended after %.3f s", outcome.message, outcome.seconds)
            written = self.logic.undoStack.newest
            if written is not None and written is not newest:  # a result was written: its points are kept
                self._points_of[id(written)] = self._placed
                self._placed = []
            elif outcome.error is not None or outcome.cancelled:
                self._drop_placed()
            if self.tool == BOX and not self.logic.jobs.busy:
                self._place("roi")  # the box was answered: the next two clicks draw a new one
            self._refresh()
        busy = self.logic.jobs.busy
        if not busy and not self._pressed and self.scene.renders_held():
            self._release_renders()
        return busy

    def _release_renders(self) -> None:
        """The prompted view draws first; the other two on the next poll (the user looks at the first)."""
        prompted = self.scene.plane_of(self.panel.sliceViewName)
        if prompted is not None and self.scene.slice_views()[prompted].is_render_blocked:
            self.scene.hold_renders(False, (prompted,))
        else:
            self.scene.hold_renders(False)

    def wait(self, timeout: float = 60.0) -> None:
        """Poll until the job runner is idle (tests and scripted use)."""
        end = time.monotonic() + timeout
        while self.poll():
            if time.monotonic() > end:
                raise TimeoutError("the job did not finish")
            time.sleep(0.005)

    def _refresh(self) -> None:
        self.state["segments"] = self.scene.segments()
        self.state["active_segment"] = self.parameters.segmentId or ""
        self.state["can_undo"] = self.logic.canUndo
        self.state["can_other_answer"] = self.panel.buttons(0)["otherAnswer"]


def write_seg_nrrd(segmentation, path: str) -> None:
    """A segmentation node as a Slicer .seg.nrrd (names and colours kept)."""
    import slicer

    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(path)
    storage.SetUseCompression(True)
    if not storage.WriteData(segmentation):
        raise OSError(f"could not write {path}")


def remove_points(points: list[tuple[Any, str]]) -> None:
    """Remove markups control points given as (node, control point id); points already gone are skipped."""
    for node, point_id in points:
        index = node.GetNthControlPointIndexByID(point_id)
        if index >= 0:
            node.RemoveNthControlPoint(index)

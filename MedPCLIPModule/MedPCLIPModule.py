"""MedPCLIP: promptable segmentation and naming of anatomy / lesions in 3D Slicer (MedP-CLIP + SAM-style decoder).

This file is the thin Qt front-end and the Slicer-only base classes (Slicer's scripted-module template): the
module, the parameter node, the widget (binds the parameter node to the GUI, shows state), the logic
(``MedPCLIPModuleLogic``: the parameter node + ``MedPCLIPModuleLib.logic.MedPCLIPLogic``) and the one self-test.
All work lives in ``MedPCLIPModuleLib`` (no Qt there; ``MedPCLIPLogic`` is scriptable from the Python console,
see its docstring).
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import (vtkMRMLMarkupsClosedCurveNode, vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode,
                    vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode)
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.util import VTKObservationMixin

try:
    from slicer.i18n import tr as _
except ImportError:  # Slicer < 5.4
    def _(text):
        return text

# The library is importable without torch: heavy imports happen when the model is first used.
from MedPCLIPModuleLib import dependencies

dependencies.ensure_medpclip_on_path(os.path.dirname(__file__))

from MedPCLIPModuleLib.backends import MedPCLIPError  # noqa: E402
from MedPCLIPModuleLib.logic import MedPCLIPLogic  # noqa: E402
from MedPCLIPModuleLib.panel import BACKEND_LOCAL, BACKEND_REMOTE, Panel  # noqa: E402
from MedPCLIPModuleLib.prompts import PromptMarkups  # noqa: E402
from MedPCLIPModuleLib.qt_parts import StrokeTools, install_shortcuts, remove_shortcuts  # noqa: E402
from MedPCLIPModuleLib.strokes import StrokeSegments  # noqa: E402


# ================================================================================================ module

class MedPCLIPModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MedPCLIP")
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = ["Segmentations", "Markups"]
        self.parent.contributors = ["MedPCLIP project contributors"]
        self.parent.helpText = _(
            "Click positive / negative points or draw a box in the slice views to segment a structure on the "
            "slice (2D) or through the volume (3D), then <b>Identify</b> it: ranked anatomical names, one click to "
            "name the segment. <b>Find</b> segments a structure from a short text. The model (MedP-CLIP, a "
            "promptable medical CLIP with a SAM-style mask decoder) runs in Slicer (CUDA GPU when present) or on a "
            "MONAI Label server.<br>Scripting: <code>from MedPCLIPModuleLib.logic import MedPCLIPLogic</code>.<br>"
            "Paint positive / negative strokes (S / Shift+S, the Segment Editor's Paint brush on a 'MedPCLIP strokes' "
            "segmentation): each finished stroke segments again.<br>"
            "Shortcuts: A positive point, D negative point, X box, S paint positive stroke, Shift+S paint negative "
            "stroke, L lasso, G segment, P propagate 3D, C clear points, lasso and strokes, "
            "I identify, N apply name, Shift+N name all segments, F find, U undo last result, O other answer to one "
            "point, Esc cancel.")
        self.parent.acknowledgementText = _(
            "Built on 3D Slicer, MONAI / MONAI Label and PyTorch. Design follows SlicerTotalSegmentator (logic "
            "hygiene) and SlicerNNInteractive (interaction). Sample data: TotalSegmentator test files (CC BY 4.0).")


# ===================================================================================== parameter node

@parameterNodeWrapper
class MedPCLIPModuleParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    segmentId: str = ""
    positivePoints: vtkMRMLMarkupsFiducialNode
    negativePoints: vtkMRMLMarkupsFiducialNode
    roi: vtkMRMLMarkupsROINode
    strokes: vtkMRMLSegmentationNode
    lasso: vtkMRMLMarkupsClosedCurveNode
    useSegmentAsMask: bool = False
    mode3D: bool = False
    autoSegment: bool = True
    topK: Annotated[int, WithinRange(1, 20)] = 5
    findText: str = ""
    backend: Annotated[str, Choice([BACKEND_LOCAL, BACKEND_REMOTE])] = BACKEND_LOCAL
    serverUrl: str = "http://127.0.0.1:8000"


# ============================================================================================== widget

class MedPCLIPModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Thin UI: binds the parameter node to the GUI (``connectGui``) and shows what the panel says; the panel
    (``MedPCLIPModuleLib.panel.Panel``, no Qt) does what the buttons ask, through the logic's job runner."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: Optional[MedPCLIPModuleLogic] = None
        self.panel: Optional[Panel] = None
        self.prompts: Optional[PromptMarkups] = None
        self.strokes: Optional[StrokeSegments] = None
        self.strokeTools = self.lassoButton = None
        self._parameterNode: Optional[MedPCLIPModuleParameterNode] = None
        self._parameterNodeGuiTag = None
        self._timer = None
        self._shortcuts = []

    # -- setup / enter / exit / cleanup -------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedPCLIPModule.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()
        self.ui.namesTable.horizontalHeader().setStretchLastSection(True)

        self.logic = MedPCLIPModuleLogic()
        self.panel = Panel(self.logic, self, os.path.dirname(__file__))
        self.prompts = PromptMarkups(slicer.mrmlScene, self.onPromptChanged)
        self.strokes = StrokeSegments(slicer.mrmlScene, self.onPromptChanged)
        self.panel.strokes = self.strokes
        self.strokeTools = StrokeTools(self.ui.promptsCollapsibleButton.layout(), _, self.onPaint,
                                       lambda: self.act(self.panel.clearStrokes))
        self.lassoButton = self.strokeTools.lassoButton

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # the segment selector has no parameter-node connector: it writes segmentation / segmentId itself
        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentChanged)
        for kind, button in self._placeButtons().items():
            button.connect("clicked(bool)", lambda on, kind=kind: self.onPlace(kind, on))
        for button, action in self._actions():
            button.connect("clicked(bool)", lambda checked=False, action=action: self.act(action))
        self.ui.namesTable.connect("cellDoubleClicked(int,int)", lambda row, col: self.act(self.onApplyName))
        self.ui.findTextLineEdit.connect("returnPressed()", lambda: self.act(self.panel.find))

        self._timer = qt.QTimer()
        self._timer.setInterval(50)
        self._timer.connect("timeout()", self.panel.poll)
        self.ui.checkpointPathLineEdit.currentPath = qt.QSettings().value("MedPCLIP/checkpointPath", "") or ""
        self.initializeParameterNode()

    def onPaint(self, positive: bool, on: bool = True) -> None:
        """Paint positive / negative strokes with the Segment Editor's Paint effect (toggled by its button)."""
        if on and self._parameterNode is not None:
            self.stopPlacing()
        self.strokeTools.toggle(self.strokes, self._parameterNode, positive, on, self.showError)

    def stopPainting(self) -> None:
        if self.strokeTools is not None:
            self.strokeTools.stop()

    def _actions(self) -> list:
        return [(self.ui.segmentButton, lambda: self.panel.segment()),
                (self.ui.otherAnswerButton, self.panel.otherAnswer),
                (self.ui.propagateButton, lambda: self.panel.segment(force3D=True)),
                (self.ui.clearPromptsButton, self.onClearPoints), (self.ui.undoButton, self.panel.undo),
                (self.ui.identifyButton, self.panel.identify), (self.ui.applyNameButton, self.onApplyName),
                (self.ui.nameAllButton, self.panel.nameAll),
                (self.ui.findButton, self.panel.find), (self.ui.testConnectionButton, self.onTestConnection),
                (self.ui.cancelButton, self.panel.cancel)]

    def act(self, action) -> None:
        action()
        self.updateButtons()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeShortcuts()
        if self._timer is not None:
            self._timer.stop()
        self._disconnectParameterNode()
        self.removeObservers()
        if self.logic is not None:
            self.logic.cleanup()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.installShortcuts()

    def exit(self) -> None:
        """Called each time the user opens a different module: no shortcuts, no placing, no observers."""
        self.removeShortcuts()
        self.stopPlacing()
        self.stopPainting()
        self._disconnectParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self.panel.cancel()
        self.logic.clearUndo()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # -- parameter node -----------------------------------------------------------------------------
    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        p = self._parameterNode
        if not p.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                p.inputVolume = first

    def setParameterNode(self, inputParameterNode) -> None:
        self._disconnectParameterNode()
        self._parameterNode = self.panel.parameters = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self.onParameterNodeModified()

    def _disconnectParameterNode(self) -> None:
        """Stop reacting to the parameter node and to the prompt markups (both are bound again on enter)."""
        p = self._parameterNode
        if p and self._parameterNodeGuiTag is not None:
            p.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNodeGuiTag = None
        if p and self.hasObserver(p, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified):
            self.removeObserver(p, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        for watched in (self.prompts, self.strokes):
            if watched is not None:
                watched.unwatch()

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        """Show the parameter node: segment selection, watched prompts, backend fields, buttons."""
        p = self._parameterNode
        if p and self._parameterNodeGuiTag is not None:
            selector = self.ui.segmentSelector
            if p.segmentation and selector.currentNode() != p.segmentation:
                selector.setCurrentNode(p.segmentation)
            if p.segmentId and selector.currentSegmentID() != p.segmentId \
                    and p.segmentation and p.segmentation.GetSegmentation().GetSegment(p.segmentId):
                selector.setCurrentSegmentID(p.segmentId)
            self.prompts.watch(p)
            if p.strokes is not None:
                self.strokes.watch(p.strokes)
        remote = bool(p and p.backend == BACKEND_REMOTE)
        for w in (self.ui.serverUrlLineEdit, self.ui.serverTokenLineEdit, self.ui.testConnectionButton):
            w.enabled = remote
        self.ui.checkpointPathLineEdit.enabled = not remote
        self.updateButtons()

    def onSegmentationChanged(self, node) -> None:
        if self._parameterNode and self._parameterNode.segmentation != node:
            self._parameterNode.segmentation = node

    def onSegmentChanged(self, segmentId) -> None:
        if self._parameterNode and self._parameterNode.segmentId != (segmentId or ""):
            self._parameterNode.segmentId = segmentId or ""

    def updateButtons(self) -> None:
        for name, enabled in self.panel.buttons(self.ui.namesTable.rowCount).items():
            getattr(self.ui, name + "Button").enabled = enabled  # segment -> segmentButton, ...
        self.ui.undoButton.toolTip = self.panel.undoToolTip()

    # -- shortcuts ------------------------------------------------------------------------------------
    def installShortcuts(self) -> None:
        self.removeShortcuts()
        panel = self.panel
        self._shortcuts = install_shortcuts(
            (("A", lambda: self.onPlace("positive")), ("D", lambda: self.onPlace("negative")),
             ("X", lambda: self.onPlace("roi")), ("L", lambda: self.onPlace("lasso")),
             ("S", lambda: self.onPaint(True)), ("Shift+S", lambda: self.onPaint(False)),
             ("G", lambda: panel.segment()),
             ("P", lambda: panel.segment(force3D=True)), ("C", self.onClearPoints), ("I", panel.identify),
             ("N", self.onApplyName), ("Shift+N", panel.nameAll), ("F", self.focusFindText), ("U", panel.undo),
             ("O", panel.otherAnswer),
             ("Esc", self.onEscape)), self.act)

    def removeShortcuts(self) -> None:
        remove_shortcuts(self._shortcuts)
        self._shortcuts = []

    def onEscape(self) -> None:
        self.panel.cancel()
        self.stopPlacing()
        self.stopPainting()

    # -- prompts ----------------------------------------------------------------------------------------
    def _placeButtons(self) -> dict:
        return {"positive": self.ui.positivePointButton, "negative": self.ui.negativePointButton,
                "roi": self.ui.roiButton, "lasso": self.lassoButton}

    def _checkPlaceButton(self, kind: Optional[str]) -> None:
        for k, button in self._placeButtons().items():
            button.blockSignals(True)
            button.checked = k == kind
            button.blockSignals(False)

    def onPlace(self, kind: str, on: bool = True) -> None:
        self._checkPlaceButton(kind if on else None)
        if not on:
            return self.stopPlacing()
        self.stopPainting()
        appLogic = slicer.app.applicationLogic()
        self.prompts.place(self._parameterNode, kind, appLogic.GetSelectionNode(), appLogic.GetInteractionNode())

    def stopPlacing(self) -> None:
        self.prompts.stopPlacing(slicer.app.applicationLogic().GetInteractionNode())
        self._checkPlaceButton(None)

    def onClearPoints(self) -> None:
        self.prompts.clearPoints(self._parameterNode)
        self.panel.clearStrokes()

    def onPromptChanged(self, caller, event) -> None:
        """A point was placed or moved, or a stroke painted: remember the view it was in; segment again when that is
        wanted."""
        self.panel.sliceViewName = self.prompts.viewUnderCursor() or self.panel.sliceViewName
        if caller.IsA("vtkMRMLMarkupsROINode") and caller.GetNumberOfControlPoints():
            self.stopPlacing()  # one box at a time
        if self.prompts.autoSegment(self._parameterNode, caller):
            self.act(lambda: self.panel.segment(quiet=True))

    def onApplyName(self) -> None:
        row = self.ui.namesTable.currentRow()
        self.panel.applyName(row, self.ui.namesTable.item(row, 0).text() if row >= 0 else "")

    def onTestConnection(self) -> None:
        with slicer.util.WaitCursor():
            try:
                info = self.logic.testConnection(self._parameterNode.serverUrl.strip(), token=self.serverToken())
            except MedPCLIPError as exc:
                self.ui.backendStatusLabel.text = "<font color='#c33'>" + str(exc) + "</font>"
                return slicer.util.errorDisplay(str(exc))
        self.ui.backendStatusLabel.text = (_("Connected: ") + f"{info['name']} {info['version']} "
                                           + _("tasks: ") + ", ".join(info["tasks"]))

    # -- PanelView: what the panel shows and asks -------------------------------------------------------
    def tr(self, text: str) -> str:
        return _(text)

    def setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text

    def showError(self, text: str, detail: str = "") -> None:
        if detail:
            slicer.util.errorDisplay(text, detailedText=detail)
        else:
            slicer.util.errorDisplay(text)

    def confirm(self, text: str, title: str) -> bool:
        return slicer.util.confirmOkCancelDisplay(text, windowTitle=title)

    def installPackages(self, missing) -> None:
        progress = slicer.util.createProgressDialog(labelText=_("Installing Python packages..."), maximum=0)
        try:
            with slicer.util.tryWithErrorDisplay(_("Installing the dependencies failed."), waitCursor=True):
                dependencies.install(missing, progress=lambda msg: (setattr(progress, "labelText", msg),
                                                                    slicer.app.processEvents()))
        finally:
            progress.close()

    def setBusy(self, busy: bool) -> None:
        self.ui.progressBar.setVisible(busy)
        self.ui.cancelButton.setVisible(busy)
        if busy:
            self._timer.start()
        else:
            self._timer.stop()
        self.updateButtons()

    def showRanking(self, ranking) -> None:
        table = self.ui.namesTable
        table.setRowCount(len(ranking))
        for row, (name, score) in enumerate(ranking):
            table.setItem(row, 0, qt.QTableWidgetItem(name))
            table.setItem(row, 1, qt.QTableWidgetItem(f"{score:.3f}"))
        if ranking:
            table.selectRow(0)

    def focusFindText(self) -> None:
        self.ui.findTextLineEdit.setFocus()

    def checkpointPath(self) -> str:
        """The checkpoint field (an application setting, kept in QSettings, not in the scene)."""
        path = self.ui.checkpointPathLineEdit.currentPath.strip()
        qt.QSettings().setValue("MedPCLIP/checkpointPath", path)
        return path

    def serverToken(self) -> Optional[str]:
        """The token typed in the GUI (a secret: not a parameter-node value, so never saved with the scene);
        None lets the backend use $MEDPCLIP_TOKEN."""
        return self.ui.serverTokenLineEdit.text.strip() or None


class MedPCLIPModuleLogic(MedPCLIPLogic, ScriptedLoadableModuleLogic):
    """The module's one logic: ``MedPCLIPLogic`` (backend choice, jobs, undo; Qt-free, in MedPCLIPModuleLib) with
    Slicer's scripted-module base for the parameter node."""

    def __init__(self) -> None:
        MedPCLIPLogic.__init__(self)
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return MedPCLIPModuleParameterNode(super().getParameterNode())


# ================================================================================================ test

class MedPCLIPModuleTest(ScriptedLoadableModuleTest):
    """Self-test run inside Slicer (Reload and Test, or ctest). Uses the real engine on a synthetic volume, so it
    needs the dependencies installed; the model-quality tests are in Testing/test_slicer_logic.py (pytest)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        from MedPCLIPModuleLib.selftest import run_all

        widget = None
        if slicer.util.mainWindow() is not None:
            slicer.util.selectModule("MedPCLIPModule")
            widget = slicer.modules.medpclipmodule.widgetRepresentation().self()
        run_all(self.delayDisplay, widget=widget)

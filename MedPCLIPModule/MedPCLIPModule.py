"""MedPCLIP: promptable segmentation and naming of anatomy / lesions in 3D Slicer (MedP-CLIP + SAM-style decoder).

This file is the thin Qt front-end. All work lives in ``MedPCLIPModuleLib`` (no Qt there):
``MedPCLIPModuleLib.logic.MedPCLIPLogic`` is scriptable from the Python console, see its docstring.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import (vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)
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

POSITIVE_COLOR = (0.2, 0.9, 0.3)
NEGATIVE_COLOR = (0.95, 0.25, 0.2)
BACKEND_LOCAL = "Local"
BACKEND_REMOTE = "MONAI Label server"


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
            "Shortcuts: A positive point, D negative point, X box, G segment, P propagate 3D, C clear points, "
            "I identify, N apply name, F find, U undo last result, Esc cancel.")
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
    useSegmentAsMask: bool = False
    mode3D: bool = False
    autoSegment: bool = True
    topK: Annotated[int, WithinRange(1, 20)] = 5
    findText: str = ""
    backend: Annotated[str, Choice([BACKEND_LOCAL, BACKEND_REMOTE])] = BACKEND_LOCAL
    serverUrl: str = "http://127.0.0.1:8000"


# ============================================================================================== widget

class MedPCLIPModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Thin UI: collects nodes and options, hands work to MedPCLIPLogic on a worker thread, shows results."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode: Optional[MedPCLIPModuleParameterNode] = None
        self._parameterNodeGuiTag = None
        self._future = None
        self._job = None
        self._jobDone = None
        self._jobStart = 0.0
        self._cancelled = False
        self._pending = None
        self._shortcuts = []
        self._observedMarkups = []
        self._lastViewName = None
        self._backendKey = None

    # -- setup ------------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedPCLIPModule.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()
        self.ui.namesTable.horizontalHeader().setStretchLastSection(True)

        from MedPCLIPModuleLib.logic import MedPCLIPLogic  # no torch import here

        self.logic = MedPCLIPLogic(backend=_NoBackendYet())

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentChanged)
        self.ui.positivePointButton.connect("clicked(bool)", lambda on: self.onPlace("positive", on))
        self.ui.negativePointButton.connect("clicked(bool)", lambda on: self.onPlace("negative", on))
        self.ui.roiButton.connect("clicked(bool)", lambda on: self.onPlace("roi", on))
        self.ui.segmentButton.connect("clicked(bool)", lambda: self.onSegment())
        self.ui.propagateButton.connect("clicked(bool)", lambda: self.onSegment(force3D=True))
        self.ui.clearPromptsButton.connect("clicked(bool)", self.onClearPoints)
        self.ui.undoButton.connect("clicked(bool)", self.onUndo)
        self.ui.identifyButton.connect("clicked(bool)", self.onIdentify)
        self.ui.applyNameButton.connect("clicked(bool)", self.onApplyName)
        self.ui.namesTable.connect("cellDoubleClicked(int,int)", lambda row, col: self.onApplyName())
        self.ui.findButton.connect("clicked(bool)", self.onFind)
        self.ui.findTextLineEdit.connect("returnPressed()", self.onFind)
        self.ui.testConnectionButton.connect("clicked(bool)", self.onTestConnection)
        self.ui.backendComboBox.connect("currentIndexChanged(int)", lambda i: self.updateBackendWidgets())
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.positivePointsSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda n: self.observeMarkups())
        self.ui.negativePointsSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda n: self.observeMarkups())
        self.ui.roiSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda n: self.observeMarkups())

        self._timer = qt.QTimer()
        self._timer.setInterval(50)
        self._timer.connect("timeout()", self.pollJob)

        self.ui.checkpointPathLineEdit.currentPath = qt.QSettings().value("MedPCLIP/checkpointPath", "") or ""

        self.initializeParameterNode()
        self.updateBackendWidgets()
        self.updateButtons()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeShortcuts()
        self.removeObservers()
        self._observedMarkups = []
        if self._timer is not None:
            self._timer.stop()
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
        if self.logic is not None:
            self.logic.cleanup()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.installShortcuts()

    def exit(self) -> None:
        self.removeShortcuts()
        self.stopPlacing()
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self.onCancel()
        if self.logic is not None:
            self.logic.clearUndo()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # -- parameter node -----------------------------------------------------------------------------
    def initializeParameterNode(self) -> None:
        self.setParameterNode(MedPCLIPModuleLogic().getParameterNode())
        p = self._parameterNode
        if not p.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                p.inputVolume = first

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            if self._parameterNodeGuiTag is not None:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            if self._parameterNode.segmentation:
                self.ui.segmentSelector.setCurrentNode(self._parameterNode.segmentation)
                if self._parameterNode.segmentId:
                    self.ui.segmentSelector.setCurrentSegmentID(self._parameterNode.segmentId)
        self.observeMarkups()
        self.onParameterNodeModified()

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        self.updateButtons()

    def onSegmentationChanged(self, node) -> None:
        if self._parameterNode:
            self._parameterNode.segmentation = node
        self.updateButtons()

    def onSegmentChanged(self, segmentId) -> None:
        if self._parameterNode:
            self._parameterNode.segmentId = segmentId or ""
        self.updateButtons()

    def updateButtons(self) -> None:
        p = self._parameterNode
        busy = self._future is not None
        ready = bool(p and p.inputVolume and self.ui.segmentSelector.currentNode())
        segment = bool(ready and self.ui.segmentSelector.currentSegmentID())
        for button in (self.ui.segmentButton, self.ui.propagateButton):
            button.enabled = ready and not busy
        self.ui.identifyButton.enabled = segment and not busy
        self.ui.applyNameButton.enabled = segment and self.ui.namesTable.rowCount > 0
        self.ui.findButton.enabled = ready and not busy and bool(p and p.findText.strip())
        self.ui.undoButton.enabled = bool(self.logic and self.logic.canUndo) and not busy
        self.ui.undoButton.toolTip = (_("Undo: ") + self.logic.undoDescription()) if self.logic and self.logic.canUndo \
            else _("Nothing to undo")

    # -- shortcuts ------------------------------------------------------------------------------------
    def installShortcuts(self) -> None:
        self.removeShortcuts()
        keys = [("A", lambda: self.onPlace("positive", True)), ("D", lambda: self.onPlace("negative", True)),
                ("X", lambda: self.onPlace("roi", True)), ("G", lambda: self.onSegment()),
                ("P", lambda: self.onSegment(force3D=True)), ("C", self.onClearPoints), ("I", self.onIdentify),
                ("N", self.onApplyName), ("F", lambda: self.ui.findTextLineEdit.setFocus()), ("U", self.onUndo),
                ("Esc", self.onEscape)]
        mainWindow = slicer.util.mainWindow()
        if mainWindow is None:
            return
        for key, callback in keys:
            shortcut = qt.QShortcut(qt.QKeySequence(key), mainWindow)
            shortcut.connect("activated()", callback)
            self._shortcuts.append(shortcut)

    def removeShortcuts(self) -> None:
        for shortcut in self._shortcuts:
            shortcut.disconnect("activated()")
            shortcut.setParent(None)
        self._shortcuts = []

    def onEscape(self) -> None:
        if self._future is not None:
            self.onCancel()
        self.stopPlacing()

    # -- prompts ----------------------------------------------------------------------------------------
    def _promptNode(self, kind: str, create: bool = True):
        p = self._parameterNode
        attr = {"positive": "positivePoints", "negative": "negativePoints", "roi": "roi"}[kind]
        node = getattr(p, attr)
        if node is None and create:
            cls = "vtkMRMLMarkupsROINode" if kind == "roi" else "vtkMRMLMarkupsFiducialNode"
            name = {"positive": "MedPCLIP positive", "negative": "MedPCLIP negative", "roi": "MedPCLIP box"}[kind]
            node = slicer.mrmlScene.AddNewNodeByClass(cls, slicer.mrmlScene.GenerateUniqueName(name))
            node.CreateDefaultDisplayNodes()
            display = node.GetDisplayNode()
            if kind != "roi":
                color = POSITIVE_COLOR if kind == "positive" else NEGATIVE_COLOR
                display.SetSelectedColor(*color)
                display.SetColor(*color)
                display.SetPointLabelsVisibility(False)
            setattr(p, attr, node)
        return node

    def onPlace(self, kind: str, on: bool = True) -> None:
        buttons = {"positive": self.ui.positivePointButton, "negative": self.ui.negativePointButton,
                   "roi": self.ui.roiButton}
        for k, b in buttons.items():
            b.blockSignals(True)
            b.checked = (k == kind and on)
            b.blockSignals(False)
        if not on:
            self.stopPlacing()
            return
        node = self._promptNode(kind)
        if kind == "roi" and node.GetNumberOfControlPoints() > 0:
            node.RemoveAllControlPoints()  # redraw the box
        selectionNode = slicer.app.applicationLogic().GetSelectionNode()
        selectionNode.SetReferenceActivePlaceNodeClassName(node.GetClassName())
        selectionNode.SetActivePlaceNodeID(node.GetID())
        interactionNode = slicer.app.applicationLogic().GetInteractionNode()
        interactionNode.SetPlaceModePersistence(0 if kind == "roi" else 1)
        interactionNode.SetCurrentInteractionMode(interactionNode.Place)

    def stopPlacing(self) -> None:
        interactionNode = slicer.app.applicationLogic().GetInteractionNode()
        if interactionNode.GetCurrentInteractionMode() == interactionNode.Place:
            interactionNode.SwitchToViewTransformMode()
        for b in (self.ui.positivePointButton, self.ui.negativePointButton, self.ui.roiButton):
            b.blockSignals(True)
            b.checked = False
            b.blockSignals(False)

    def onClearPoints(self) -> None:
        for kind in ("positive", "negative"):
            node = self._promptNode(kind, create=False)
            if node is not None:
                node.RemoveAllControlPoints()

    def observeMarkups(self) -> None:
        """Segment again when a point is placed or moved (if enabled); remember the view it was placed in."""
        for node, event in self._observedMarkups:
            self.removeObserver(node, event, self.onPromptChanged)
        self._observedMarkups = []
        p = self._parameterNode
        if not p:
            return
        for node in (p.positivePoints, p.negativePoints, p.roi):
            if node is None:
                continue
            for event in (slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent,
                          slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent):
                self.addObserver(node, event, self.onPromptChanged)
                self._observedMarkups.append((node, event))

    def onPromptChanged(self, caller, event) -> None:
        self._lastViewName = self.viewUnderCursor() or self._lastViewName
        if caller.IsA("vtkMRMLMarkupsROINode") and caller.GetNumberOfControlPoints():
            self.stopPlacing()  # one box at a time
        p = self._parameterNode
        if p and p.autoSegment and p.inputVolume and self.ui.segmentSelector.currentNode():
            if caller.IsA("vtkMRMLMarkupsROINode") or (p.positivePoints and p.positivePoints.GetNumberOfControlPoints()):
                self.onSegment(quiet=True)

    @staticmethod
    def viewUnderCursor() -> Optional[str]:
        crosshair = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
        if crosshair is None:
            return None
        xyz = [0.0, 0.0, 0.0]
        sliceNode = crosshair.GetCursorPositionXYZ(xyz)
        return sliceNode.GetLayoutName() if sliceNode is not None else None

    # -- backend ----------------------------------------------------------------------------------------
    def updateBackendWidgets(self) -> None:
        remote = self.ui.backendComboBox.currentText == BACKEND_REMOTE
        self.ui.serverUrlLineEdit.enabled = remote
        self.ui.serverTokenLineEdit.enabled = remote
        self.ui.testConnectionButton.enabled = remote
        self.ui.checkpointPathLineEdit.enabled = not remote

    def ensureBackend(self) -> bool:
        """Create / switch the logic's backend to match the GUI; ask to install missing dependencies first."""
        from MedPCLIPModuleLib.backends import LocalBackend, RemoteBackend

        p = self._parameterNode
        remote = p.backend == BACKEND_REMOTE
        if not self.ensureDependencies("remote" if remote else "local"):
            return False
        checkpointPath = self.ui.checkpointPathLineEdit.currentPath.strip()
        qt.QSettings().setValue("MedPCLIP/checkpointPath", checkpointPath)
        key = ("remote", p.serverUrl.strip(), self.serverToken()) if remote else ("local", checkpointPath)
        if key != self._backendKey:
            if remote:
                backend = RemoteBackend(key[1], token=key[2])
            else:
                checkpoint = key[1] or dependencies.default_checkpoint(os.path.dirname(__file__))
                backend = LocalBackend(checkpoint=checkpoint)
            self.logic.setBackend(backend)
            self._backendKey = key
        return True

    def ensureDependencies(self, backend: str) -> bool:
        if not dependencies.ensure_medpclip_on_path(os.path.dirname(__file__)):
            slicer.util.errorDisplay(_("The medpclip package is missing from this extension's installation. "
                                       "Reinstall the MedPCLIP extension."))
            return False
        missing = dependencies.missing(backend)
        if not missing:
            return True
        text = (_("MedPCLIP needs these Python packages, which are not installed in Slicer yet:") + "\n\n"
                + dependencies.describe(missing) + "\n\n"
                + _("Install them now? This downloads several hundred MB (PyTorch) and may take a few minutes. "
                    "Slicer may need a restart afterwards."))
        if not slicer.util.confirmOkCancelDisplay(text, windowTitle=_("MedPCLIP: install dependencies")):
            self.ui.statusLabel.text = _("Dependencies not installed; the model cannot run.")
            return False
        progress = slicer.util.createProgressDialog(labelText=_("Installing Python packages..."), maximum=0)
        try:
            with slicer.util.tryWithErrorDisplay(_("Installing the dependencies failed."), waitCursor=True):
                dependencies.install(missing, progress=lambda msg: (setattr(progress, "labelText", msg),
                                                                    slicer.app.processEvents()))
        finally:
            progress.close()
        still = dependencies.missing(backend)
        if still:
            slicer.util.errorDisplay(_("Still missing after installation: ") + ", ".join(r.spec for r in still)
                                     + _(". Restart Slicer and try again."))
            return False
        return True

    def serverToken(self) -> str | None:
        """The token typed in the GUI (a secret: not a parameter-node value, so never saved with the scene);
        None lets the backend use $MEDPCLIP_TOKEN."""
        return self.ui.serverTokenLineEdit.text.strip() or None

    def onTestConnection(self) -> None:
        from MedPCLIPModuleLib.backends import MedPCLIPError

        url = self.ui.serverUrlLineEdit.text.strip()
        with slicer.util.WaitCursor():
            try:
                info = self.logic.testConnection(url, token=self.serverToken())
            except MedPCLIPError as exc:
                self.ui.backendStatusLabel.text = "<font color='#c33'>" + str(exc) + "</font>"
                slicer.util.errorDisplay(str(exc))
                return
        self.ui.backendStatusLabel.text = (_("Connected: ") + f"{info['name']} {info['version']} "
                                           + _("tasks: ") + ", ".join(info["tasks"]))

    # -- actions --------------------------------------------------------------------------------------
    def _inputs(self):
        p = self._parameterNode
        return p.inputVolume, self.ui.segmentSelector.currentNode(), self.ui.segmentSelector.currentSegmentID() or None

    def onSegment(self, force3D: bool = False, quiet: bool = False) -> None:
        p = self._parameterNode
        if p is None:
            return
        volume, segmentation, segmentId = self._inputs()
        if volume is None or segmentation is None:
            if not quiet:
                slicer.util.errorDisplay(_("Select an input volume and a segmentation."))
            return
        positive = p.positivePoints
        roi = p.roi if (p.roi is not None and p.roi.GetNumberOfControlPoints() > 0) else None
        if (positive is None or positive.GetNumberOfControlPoints() == 0) and roi is None:
            if not quiet:
                slicer.util.errorDisplay(_("Place at least one positive point (A) or a box (X)."))
            return
        if not self.ensureBackend():
            return
        mode = "3d" if (force3D or p.mode3D) else "2d"
        prepare = lambda: self.logic.prepareSegment(  # noqa: E731
            volume, segmentation, segmentId, positive, p.negativePoints, roi, mode=mode,
            sliceViewName=self._lastViewName, useSegmentAsMask=p.useSegmentAsMask)
        self.runJob(prepare, self.onSegmentDone, _("Segmenting ({mode})...").format(mode=mode.upper()))

    def onSegmentDone(self, score) -> None:
        r = self.logic.lastResult
        if r is None:
            return
        segmentation = slicer.mrmlScene.GetNodeByID(r.segmentationNodeID)
        if segmentation is not None:
            if self.ui.segmentSelector.currentNode() != segmentation:
                self.ui.segmentSelector.setCurrentNode(segmentation)
            self.ui.segmentSelector.setCurrentSegmentID(r.segmentId)
            segmentation.GetDisplayNode() and segmentation.GetDisplayNode().SetSegmentVisibility(r.segmentId, True)
        self.ui.statusLabel.text = (_("Quality {score:.2f}, {voxels} voxels, {n} s").format(
            score=score, voxels=r.voxels, n=f"{r.seconds:.2f}") + "".join("\n" + w for w in r.warnings))

    def onIdentify(self) -> None:
        volume, segmentation, segmentId = self._inputs()
        if not segmentId:
            slicer.util.errorDisplay(_("Select a segment to identify."))
            return
        if not self.ensureBackend():
            return
        prepare = lambda: self.logic.prepareIdentify(volume, segmentation, segmentId,  # noqa: E731
                                                     self._parameterNode.topK)
        self.runJob(prepare, self.onIdentifyDone, _("Identifying..."))

    def onIdentifyDone(self, ranking) -> None:
        table = self.ui.namesTable
        table.setRowCount(len(ranking))
        for row, (name, score) in enumerate(ranking):
            table.setItem(row, 0, qt.QTableWidgetItem(name))
            table.setItem(row, 1, qt.QTableWidgetItem(f"{score:.3f}"))
        if ranking:
            table.selectRow(0)
            self.ui.statusLabel.text = _("Most likely: {name} ({score:.0%})").format(name=ranking[0][0],
                                                                                    score=ranking[0][1])
        self.updateButtons()

    def onApplyName(self) -> None:
        from MedPCLIPModuleLib.backends import MedPCLIPError

        _volume, segmentation, segmentId = self._inputs()
        row = self.ui.namesTable.currentRow()
        if row < 0 or not segmentId:
            return
        name = self.ui.namesTable.item(row, 0).text()
        conceptId = None
        if row < len(self.logic.lastIdentification):
            conceptId = self.logic.lastIdentification[row].get("id")
        try:
            coded = self.logic.applyName(segmentation, segmentId, name, conceptId)
        except MedPCLIPError as exc:
            slicer.util.errorDisplay(str(exc))
            return
        self.ui.statusLabel.text = _("Segment named '{name}'").format(name=name) + (
            _(" (standard terminology)") if coded else "")
        self.updateButtons()

    def onFind(self) -> None:
        p = self._parameterNode
        volume, segmentation, _segmentId = self._inputs()
        if volume is None or segmentation is None:
            slicer.util.errorDisplay(_("Select an input volume and a segmentation."))
            return
        if not p.findText.strip():
            self.ui.findTextLineEdit.setFocus()
            return
        if not self.ensureBackend():
            return
        text = p.findText.strip()
        prepare = lambda: self.logic.prepareFind(volume, text, segmentation,  # noqa: E731
                                                 "3d" if p.mode3D else "2d")
        self.runJob(prepare, lambda sid: self.onSegmentDone(self.logic.lastResult.score),
                    _("Finding '{text}'...").format(text=text))

    def onUndo(self) -> None:
        from MedPCLIPModuleLib.backends import MedPCLIPError

        if self._future is not None:
            return
        try:
            what = self.logic.undo()
        except MedPCLIPError as exc:
            slicer.util.errorDisplay(str(exc))
            return
        self.ui.statusLabel.text = _("Undone: ") + what
        self.updateButtons()

    # -- background work ------------------------------------------------------------------------------
    def runJob(self, prepare, onDone, message: str) -> None:
        """prepare() on the main thread -> compute on the logic's worker -> apply + onDone on the main thread.
        A request made while the model is busy replaces any earlier waiting one (latest prompt wins)."""
        if self._future is not None:
            self._pending = (prepare, onDone, message)
            return
        from MedPCLIPModuleLib.backends import MedPCLIPError

        try:
            job = prepare()
        except MedPCLIPError as exc:
            slicer.util.errorDisplay(str(exc))
            return
        except Exception as exc:
            logging.error(traceback.format_exc())
            slicer.util.errorDisplay(_("Unexpected error: ") + str(exc), detailedText=traceback.format_exc())
            return
        self._job, self._jobDone, self._jobStart, self._cancelled = job, onDone, time.time(), False
        self._message = message
        self._future = self.logic.submit(job)
        self.ui.progressBar.show()
        self.ui.cancelButton.show()
        self.ui.statusLabel.text = message
        self.updateButtons()
        self._timer.start()

    def pollJob(self) -> None:
        if self._future is None:
            self._timer.stop()
            return
        if not self._future.done():
            self.ui.statusLabel.text = f"{self._message} {time.time() - self._jobStart:.1f} s"
            return
        self._timer.stop()
        future, job, onDone, cancelled = self._future, self._job, self._jobDone, self._cancelled
        self._future = self._job = self._jobDone = None
        self.ui.progressBar.hide()
        self.ui.cancelButton.hide()
        from MedPCLIPModuleLib.backends import MedPCLIPError

        try:
            out = future.result()
            if cancelled:
                self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
            else:
                onDone(job.apply(out))
        except MedPCLIPError as exc:
            self.ui.statusLabel.text = str(exc)
            slicer.util.errorDisplay(str(exc))
        except Exception as exc:
            logging.error(traceback.format_exc())
            self.ui.statusLabel.text = _("Error: ") + str(exc)
            slicer.util.errorDisplay(_("Unexpected error: ") + str(exc), detailedText=traceback.format_exc())
        finally:
            self.updateButtons()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.runJob(*pending)

    def onCancel(self) -> None:
        if self._future is not None:
            self._cancelled = True
            self._pending = None
            self.ui.statusLabel.text = _("Cancelling: the running result will be discarded...")


class _NoBackendYet:
    """Placeholder until the user runs something (the real backend may need dependencies installed first)."""

    name = "none"

    def close(self):
        pass


class MedPCLIPModuleLogic(ScriptedLoadableModuleLogic):
    """Owns only the module's parameter node. All real work is in ``MedPCLIPModuleLib.logic.MedPCLIPLogic``."""

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

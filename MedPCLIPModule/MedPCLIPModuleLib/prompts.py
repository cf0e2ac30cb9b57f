"""The module panel's prompt markups, without Qt: the positive / negative points and the box of the parameter
node (created on first use), placing them in the slice views, and watching them so that a placed or moved point
segments again. Everything here is MRML (the selection and interaction nodes included), so it runs on PyPI
``slicer-core`` too; the widget only toggles its buttons and shows what happens.
"""

from __future__ import annotations

from typing import Any, Callable

import slicer

POSITIVE_COLOR = (0.2, 0.9, 0.3)
NEGATIVE_COLOR = (0.95, 0.25, 0.2)
KINDS = {"positive": ("positivePoints", "vtkMRMLMarkupsFiducialNode", "MedPCLIP positive"),
         "negative": ("negativePoints", "vtkMRMLMarkupsFiducialNode", "MedPCLIP negative"),
         "roi": ("roi", "vtkMRMLMarkupsROINode", "MedPCLIP box"),
         "lasso": ("lasso", "vtkMRMLMarkupsClosedCurveNode", "MedPCLIP lasso")}
MIN_LASSO_POINTS = 3


class PromptMarkups:
    """The prompt nodes of a parameter node (``positivePoints``, ``negativePoints``, ``roi``, ``lasso``) and their
    observers.
    ``onChanged(caller, event)`` is called when a point is placed or a drag ends."""

    EVENTS = ("PointPositionDefinedEvent", "PointEndInteractionEvent")

    def __init__(self, scene, onChanged: Callable[[Any, int], None]) -> None:
        self.scene = scene
        self.onChanged = onChanged
        self._observed: list[tuple[Any, int, int]] = []   # (node, event, tag)

    # -- nodes ----------------------------------------------------------------------------------------
    def node(self, parameters, kind: str, create: bool = True):
        """The parameter node's ``kind`` prompt node; a new, coloured one when it has none (and ``create``)."""
        attr, cls, name = KINDS[kind]
        node = getattr(parameters, attr, None)
        if node is None and create:
            node = self.scene.AddNewNodeByClass(cls, self.scene.GenerateUniqueName(name))
            node.CreateDefaultDisplayNodes()
            if kind != "roi":
                display = node.GetDisplayNode()
                color = NEGATIVE_COLOR if kind == "negative" else POSITIVE_COLOR
                display.SetSelectedColor(*color)
                display.SetColor(*color)
                display.SetActiveColor(*color)  # a point under the mouse keeps its meaning's colour
                display.SetPointLabelsVisibility(False)
            setattr(parameters, attr, node)
        return node

    def place(self, parameters, kind: str, selectionNode, interactionNode) -> None:
        """Start placing ``kind`` in the views (points: one after the other; a box: one, drawn anew; a lasso: its
        points one after the other, drawn anew)."""
        node = self.node(parameters, kind)
        if kind in ("roi", "lasso") and node.GetNumberOfControlPoints() > 0:
            node.RemoveAllControlPoints()  # redraw the box / lasso
        selectionNode.SetReferenceActivePlaceNodeClassName(node.GetClassName())
        selectionNode.SetActivePlaceNodeID(node.GetID())
        interactionNode.SetPlaceModePersistence(0 if kind == "roi" else 1)
        interactionNode.SetCurrentInteractionMode(interactionNode.Place)

    @staticmethod
    def stopPlacing(interactionNode) -> None:
        if interactionNode.GetCurrentInteractionMode() == interactionNode.Place:
            interactionNode.SwitchToViewTransformMode()

    def clearPoints(self, parameters) -> None:
        """Remove the positive and negative points and the lasso."""
        for kind in ("positive", "negative", "lasso"):
            node = self.node(parameters, kind, create=False)
            if node is not None:
                node.RemoveAllControlPoints()

    # -- observers ------------------------------------------------------------------------------------
    def watch(self, parameters) -> None:
        """Observe the parameter node's prompt nodes (None: observe nothing); unchanged nodes stay observed."""
        nodes = [] if parameters is None else [getattr(parameters, KINDS[k][0], None) for k in KINDS]
        events = [getattr(slicer.vtkMRMLMarkupsNode, e) for e in self.EVENTS]
        wanted = [(node, event) for node in nodes if node is not None for event in events]
        if wanted == [(node, event) for node, event, _ in self._observed]:
            return
        self.unwatch()
        self._observed = [(node, event, node.AddObserver(event, self.onChanged)) for node, event in wanted]

    def unwatch(self) -> None:
        for node, _event, tag in self._observed:
            node.RemoveObserver(tag)
        self._observed = []

    # -- rules ----------------------------------------------------------------------------------------
    @staticmethod
    def autoSegment(parameters, caller) -> bool:
        """Whether a changed prompt node segments again: the option is on, the inputs are set, and the change is
        a box or a painted stroke (the strokes segmentation), or there is a positive point or a lasso."""
        p = parameters
        if not (p and p.autoSegment and p.inputVolume and p.segmentation):
            return False
        return bool(caller.IsA("vtkMRMLMarkupsROINode") or caller.IsA("vtkSegmentation")  # a painted stroke
                    or (p.positivePoints and p.positivePoints.GetNumberOfControlPoints())
                    or lassoReady(p))

    def viewUnderCursor(self) -> str | None:
        """Layout name of the slice view under the mouse ('Red', ...), None when the cursor is in none."""
        crosshair = self.scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
        if crosshair is None:
            return None
        xyz = [0.0, 0.0, 0.0]
        sliceNode = crosshair.GetCursorPositionXYZ(xyz)
        return sliceNode.GetLayoutName() if sliceNode is not None else None


def lassoReady(parameters) -> bool:
    """Whether the parameter node's lasso has enough points to enclose a region."""
    lasso = getattr(parameters, "lasso", None)
    return bool(lasso is not None and lasso.GetNumberOfControlPoints() >= MIN_LASSO_POINTS)

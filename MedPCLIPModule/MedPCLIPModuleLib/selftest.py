"""Self-test run inside 3D Slicer (module "Reload and Test", or ctest: ``MedPCLIPModuleTest`` in MedPCLIPModule.py is
its one entry point). No Qt imports here; the widget part is driven through the module's widget object when the
Slicer GUI is present, the panel part (what the widget's buttons do) with a recording view, so it runs on
``slicer-core`` too.

It uses the real engine on a small synthetic CT (a soft-tissue ellipsoid in a body in air), so it runs offline.
Model *quality* is tested with pytest on the sample CT (Testing/test_slicer_logic.py); here the checks are that
every path works in the real application: geometry with parent transforms, writing / undo, identify, errors that
leave segments untouched, the panel's job runner (latest request wins, cancel) and the GUI's background-job path.
"""

from __future__ import annotations

import time

import numpy as np

import slicer

from . import dependencies
from . import mrml_util as mu


def _synthetic_ct(scene, name="MedPCLIP test CT", transform=None):
    k, j, i = np.mgrid[0:24, 0:64, 0:64].astype(np.float32)
    arr = np.full((24, 64, 64), -1000, np.int16)
    body = ((i - 32) / 28) ** 2 + ((j - 32) / 24) ** 2 <= 1
    arr[body] = 0
    organ = ((i - 26) / 10) ** 2 + ((j - 30) / 8) ** 2 + ((k - 12) / 6) ** 2 <= 1
    arr[organ] = 60
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    node.SetAndObserveImageData(mu.vtk_image_from_array(arr))
    node.SetSpacing(1.5, 1.5, 3.0)
    node.SetOrigin(-48.0, -48.0, -36.0)
    if transform is not None:
        node.SetAndObserveTransformNodeID(transform.GetID())
    node.CreateDefaultDisplayNodes()
    return node, organ


def _world(node, ijk):
    return (mu.volume_world_affine(node) @ np.r_[np.asarray(ijk, float), 1.0])[:3].tolist()


def run_all(log=print, scene=None, widget=None) -> None:
    scene = scene or slicer.mrmlScene
    from .backends import MedPCLIPError
    from .logic import MedPCLIPLogic

    # -- geometry helpers (no model needed) --------------------------------------------------------
    log("MedPCLIP self-test: geometry")
    t = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "MedPCLIP test transform")
    m = np.eye(4)
    c, s = np.cos(0.2), np.sin(0.2)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = [10.0, -5.0, 2.0]
    t.SetMatrixTransformToParent(mu.numpy_to_matrix(m))
    moved, organ = _synthetic_ct(scene, "MedPCLIP test CT (moved)", t)
    ijk_to_ras = np.diag([1.5, 1.5, 3.0, 1.0])
    ijk_to_ras[:3, 3] = [-48.0, -48.0, -36.0]
    assert np.allclose(mu.volume_world_affine(moved), m @ ijk_to_ras), "parent transform not in the world affine"

    if not dependencies.ensure_medpclip_on_path() or dependencies.missing("local"):
        log("MedPCLIP self-test: model tests skipped - dependencies not installed: "
            + ", ".join(r.spec for r in dependencies.missing("local")))
        return

    # -- segment / undo / identify on real MRML -------------------------------------------------------
    log("MedPCLIP self-test: segment")
    volume, organ = _synthetic_ct(scene)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "MedPCLIP test segmentation")
    seg.CreateDefaultDisplayNodes()
    keep = seg.GetSegmentation().AddEmptySegment("", "kept")
    mu.ensure_reference_geometry(seg, volume)
    kept = np.zeros(organ.shape, np.uint8)
    kept[2:5, 5:10, 5:10] = 1
    mu.write_segment(seg, keep, kept, volume)

    logic = MedPCLIPLogic(scene=scene, checkpoint=dependencies.default_checkpoint())
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "MedPCLIP test box")
    lo, hi = np.array(_world(volume, [15, 21, 6])), np.array(_world(volume, [37, 39, 18]))
    roi.SetCenter(*((lo + hi) / 2))
    roi.SetSize(*np.abs(hi - lo))
    score = logic.segment(volume, seg, None, [_world(volume, [26, 30, 12])], roiNode=roi, mode="2d", allowEmpty=True)
    assert 0.0 <= score <= 1.0
    created = logic.lastResult.segmentId
    assert seg.GetSegmentation().GetSegment(created) is not None
    assert np.array_equal(mu.segment_array(seg, keep, volume), kept), "another segment was modified"
    logic.undo()
    assert seg.GetSegmentation().GetSegment(created) is None, "undo did not remove the created segment"

    log("MedPCLIP self-test: same result under a parent transform")
    seg2 = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "MedPCLIP test segmentation (moved)")
    roi2 = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "MedPCLIP test box (moved)")
    roi2.SetCenter(*((lo + hi) / 2))
    roi2.SetSize(*np.abs(hi - lo))
    roi2.SetAndObserveTransformNodeID(t.GetID())
    logic.segment(volume, seg, None, [_world(volume, [26, 30, 12])], roiNode=roi, allowEmpty=True)
    a = mu.segment_array(seg, logic.lastResult.segmentId, volume)
    logic.segment(moved, seg2, None, [_world(moved, [26, 30, 12])], roiNode=roi2, allowEmpty=True)
    b = mu.segment_array(seg2, logic.lastResult.segmentId, moved)
    assert np.array_equal(a, b), "a parent transform changed the result"

    log("MedPCLIP self-test: identify")
    organ_id = seg.GetSegmentation().AddEmptySegment("", "organ")
    mu.write_segment(seg, organ_id, organ.astype(np.uint8), volume)
    ranking = logic.identify(volume, seg, organ_id, topK=3, vocabulary=["liver", "spleen", "kidney_left", "aorta"])
    assert len(ranking) == 3 and ranking[0][1] >= ranking[-1][1]

    log("MedPCLIP self-test: errors leave segments unchanged")
    before = mu.segment_array(seg, organ_id, volume)
    for call in (lambda: logic.segment(volume, seg, organ_id, [[5000.0, 0.0, 0.0]], mode="3d"),
                 lambda: logic.identify(volume, seg, seg.GetSegmentation().AddEmptySegment("", "empty"))):
        try:
            call()
        except MedPCLIPError as exc:
            log(f"  expected error: {exc}")
        else:
            raise AssertionError("a bad input did not raise")
    assert np.array_equal(mu.segment_array(seg, organ_id, volume), before)

    _check_panel(log, scene, logic, volume, seg, organ)

    # -- the widget's background path (Slicer GUI only) -------------------------------------------------
    if widget is not None:
        log("MedPCLIP self-test: widget")
        p = widget._parameterNode
        p.inputVolume = volume
        widget.ui.segmentSelector.setCurrentNode(seg)
        widget.ui.segmentSelector.setCurrentSegmentID(organ_id)
        pos = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "MedPCLIP test points")
        import vtk

        pos.AddControlPoint(vtk.vtkVector3d(*_world(volume, [26, 30, 12])), "p1")
        p.autoSegment = False
        p.positivePoints = pos
        p.roi = roi
        assert p.segmentation == seg and p.segmentId == organ_id, "the segment selector does not write the parameter node"
        widget.panel.segment()
        _wait(widget.logic.jobs, slicer.app.processEvents)
        log("  widget status: " + widget.ui.statusLabel.text)
        widget.panel.undo()
    log("MedPCLIP self-test passed")


def _wait(jobs, step, seconds: float = 300.0) -> None:
    deadline = time.time() + seconds
    while jobs.busy and time.time() < deadline:
        step()
        time.sleep(0.05)
    assert not jobs.busy, "the job did not finish"


class _RecordingView:
    """A ``panel.PanelView`` that records what the panel shows."""

    def __init__(self):
        self.status, self.errors, self.busy, self.ranking = [], [], [], None

    def tr(self, text):
        return text

    def setStatus(self, text):
        self.status.append(text)

    def showError(self, text, detail=""):
        self.errors.append(text)

    def confirm(self, text, title):
        return False

    def installPackages(self, missing):
        raise AssertionError("nothing to install here")

    def setBusy(self, busy):
        self.busy.append(busy)

    def showRanking(self, ranking):
        self.ranking = ranking

    def focusFindText(self):
        pass

    def checkpointPath(self):
        return dependencies.default_checkpoint() or ""

    def serverToken(self):
        return None


def _check_panel(log, scene, logic, volume, seg, organ) -> None:
    """What the widget's buttons do, without the widget: prompts placed in markups, the job runner polled."""
    from types import SimpleNamespace

    from .panel import BACKEND_LOCAL, Panel
    from .prompts import PromptMarkups

    log("MedPCLIP self-test: panel")
    view = _RecordingView()
    panel = Panel(logic, view)
    changed = []
    prompts = PromptMarkups(scene, lambda caller, event: changed.append(caller))
    p = SimpleNamespace(inputVolume=volume, segmentation=seg, segmentId="", positivePoints=None, negativePoints=None,
                        roi=None, useSegmentAsMask=False, mode3D=False, autoSegment=True, topK=3, findText="",
                        backend=BACKEND_LOCAL, serverUrl="")
    panel.parameters = p
    panel.segment(quiet=True)                                   # no prompt yet: nothing, silently
    panel.segment()
    assert view.errors[-1].startswith("Place at least one positive point") and not logic.jobs.busy
    node = prompts.node(p, "positive")
    assert p.positivePoints is node and prompts.node(p, "positive") is node
    prompts.watch(p)
    node.AddControlPoint(_world(volume, [26, 30, 12]))
    node.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
    assert changed and prompts.autoSegment(p, node)
    prompts.unwatch()
    n = len(changed)
    node.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
    assert len(changed) == n, "an observer survived unwatch()"

    segments = seg.GetSegmentation().GetNumberOfSegments()
    panel.segment()                                             # runs
    panel.segment(force3D=True)                                 # waits, replaced by the next one
    panel.segment()                                             # the latest request wins
    assert logic.jobs.busy and view.busy[-1] is True
    _wait(logic.jobs, panel.poll)
    assert not view.errors[1:], view.errors
    assert view.status[-1].startswith("Quality"), view.status[-1]
    assert seg.GetSegmentation().GetNumberOfSegments() == segments + 2, "two requests should have run"
    assert p.segmentId == logic.lastResult.segmentId and view.busy[-1] is False
    panel.otherAnswer()                                         # O: the point's next answer, in the same segment
    _wait(logic.jobs, panel.poll)
    assert logic.lastResult.alternative == 1 and "answer 2 of" in view.status[-1], view.status[-1]
    assert seg.GetSegmentation().GetNumberOfSegments() == segments + 2
    panel.undo()                                                # the other answer
    panel.undo()
    panel.undo()
    assert seg.GetSegmentation().GetNumberOfSegments() == segments
    p.segmentId = ""                                            # what the segment selector does in the GUI

    panel.segment()
    panel.cancel()
    _wait(logic.jobs, panel.poll)
    assert view.status[-1] == "Cancelled; nothing was changed.", (view.status[-3:], view.errors)
    assert seg.GetSegmentation().GetNumberOfSegments() == segments, "a cancelled result was written"
    prompts.clearPoints(p)
    assert node.GetNumberOfControlPoints() == 0

"""``medpclip web`` without a browser: the page's scene and controller on real trame-slicer slice views (offscreen,
EGL / Mesa), with mouse events injected in the exact JSON the browser's remote view sends
(``vtkRemoteInteractionAdapter``), so Slicer's own markups interaction places the prompts.

The browser itself is exercised in ``test_web_browser.py``.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

pytest.importorskip("trame_slicer", reason="needs the web extra (pip install -e .[web])")

from helpers import free_port, write_dicom_series  # noqa: E402

VIEW_W, VIEW_H = 400, 300


@pytest.fixture(scope="module")
def backend(engine):
    from medpclip.web import module_lib

    return module_lib.load("backends").LocalBackend(engine=engine)


@pytest.fixture()
def page(backend, tmp_path):
    from trame_slicer.views import DirectViewFactory

    from medpclip.web.controller import WebController
    from medpclip.web.scene import WebScene

    scene = WebScene(view_factory=DirectViewFactory(do_render_offscreen=True))
    scene.create_views()
    for view in scene.slice_views().values():
        view.update_size(VIEW_W, VIEW_H)
        view.render_window().SetSize(VIEW_W, VIEW_H)
        view.interactor().InvokeEvent("WindowResizeEvent")
    state: dict = {}
    controller = WebController(scene, state, backend=backend, out_dir=tmp_path / "out")
    yield controller
    controller.logic.cleanup()
    scene.clear()


def send(view, kind: str, xy, shift: bool = False) -> None:
    """One browser mouse event (vtk-js remote interactor JSON) into a view."""
    from vtkmodules.vtkWebCore import vtkRemoteInteractionAdapter

    event = {"type": kind, "x": float(xy[0]), "y": float(xy[1]), "w": VIEW_W, "h": VIEW_H,
             "shiftKey": int(shift), "ctrlKey": 0, "altKey": 0, "metaKey": 0,
             "buttonLeft": int(kind == "LeftButtonPress"), "buttonMiddle": 0, "buttonRight": 0}
    vtkRemoteInteractionAdapter.ProcessEvent(view.interactor(), json.dumps(event))


def click(view, xy, shift: bool = False) -> None:
    for kind in ("MouseMove", "LeftButtonPress", "LeftButtonRelease"):
        send(view, kind, xy, shift)


def show_point(page, plane: str, ras) -> tuple[float, float]:
    """Move the view's slice through ``ras`` and return where it lies in the view (display pixels)."""
    view = page.scene.slice_views()[plane]
    node = view.get_view_node()
    node.JumpSliceByOffsetting(*[float(v) for v in ras])
    from MedPCLIPModuleLib import mrml_util as mu

    xy = np.linalg.inv(mu.matrix_to_numpy(node.GetXYToRAS())) @ np.r_[np.asarray(ras, float), 1.0]
    return float(xy[0]), float(xy[1])


def liver_ras(page, liver_click) -> np.ndarray:
    affine = page.scene.current.volume.affine
    return (affine @ np.r_[np.asarray(liver_click, float), 1.0])[:3]


def points(node) -> int:
    return 0 if node is None else node.GetNumberOfControlPoints()


def only_segment(page) -> np.ndarray:
    masks = page.scene.segment_masks()
    assert len(masks) == 1, [name for _, name in masks]
    return masks[0][0]


# -- clicks ------------------------------------------------------------------------------------------------

def test_a_click_in_the_axial_view_segments_what_the_engine_segments(page, ct_image_path, liver_click, ct_reference,
                                                                    engine):
    page.open(ct_image_path)
    target = liver_ras(page, liver_click)
    view = page.scene.slice_views()["axial"]
    click(view, show_point(page, "axial", target))
    page.wait()
    assert page.state["error"] == ""
    assert page.state["segments"] and page.state["segments"][0]["name"] == "MedPCLIP 1"
    placed = page.parameters.positivePoints
    assert points(placed) == 1
    p = [0.0, 0.0, 0.0]
    placed.GetNthControlPointPositionWorld(0, p)
    assert np.linalg.norm(np.asarray(p) - target) < 1.0  # within a screen pixel of the target (~0.6 mm here)
    mask = only_segment(page)
    # the same world point through the engine directly: the page adds no geometry of its own
    direct = engine.open(page.scene.current.volume).segment(
        {"space": "ras", "points": [p], "plane": "axial", "mode": "2d"}, feedback=False).mask
    assert np.array_equal(mask > 0, direct > 0)
    k = int(round(liver_click[2]))
    liver = ct_reference[k] == 5
    dice = 2 * (mask[k] & liver).sum() / (mask[k].sum() + liver.sum())
    assert dice >= 0.4, dice  # one click, the clicked slice (the Slicer-logic test's bar)
    assert mask.sum() == mask[k].sum()  # 2D: only the clicked slice


def test_shift_click_is_a_negative_point_and_undo_takes_each_click_back(page, ct_image_path, liver_click):
    page.open(ct_image_path)
    view = page.scene.slice_views()["axial"]
    target = liver_ras(page, liver_click)
    x, y = show_point(page, "axial", target)
    click(view, (x, y))
    page.wait()
    first = only_segment(page).copy()
    click(view, (x + 25, y), shift=True)
    page.wait()
    assert page.state["error"] == ""
    assert (points(page.parameters.positivePoints), points(page.parameters.negativePoints)) == (1, 1)
    second = only_segment(page)
    assert not np.array_equal(first, second), "the negative point changed nothing"
    page.undo()
    assert points(page.parameters.negativePoints) == 0
    assert np.array_equal(only_segment(page), first)
    page.undo()
    assert page.scene.segments() == [] and points(page.parameters.positivePoints) == 0
    assert page.parameters.segmentId == ""


def test_a_negative_point_first_is_refused_and_leaves_nothing(page, ct_image_path, liver_click):
    page.open(ct_image_path)
    view = page.scene.slice_views()["axial"]
    click(view, show_point(page, "axial", liver_ras(page, liver_click)), shift=True)
    page.wait()
    assert "positive point" in page.state["error"]
    assert page.scene.segments() == [] and points(page.parameters.negativePoints) == 0


def test_a_click_outside_the_volume_is_an_error_and_changes_no_segment(page, ct_image_path, liver_click):
    page.open(ct_image_path)
    view = page.scene.slice_views()["axial"]
    click(view, show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    before = only_segment(page).copy()
    click(view, (3, 3))  # the view's corner: beside the image
    page.wait()
    assert "outside" in page.state["error"], page.state["error"]
    assert np.array_equal(only_segment(page), before)
    assert points(page.parameters.positivePoints) == 1  # the refused point is not kept


def test_a_box_from_two_clicks_segments(page, ct_image_path, liver_click, ct_reference):
    page.open(ct_image_path)
    k = int(round(liver_click[2]))
    rows, cols = np.nonzero(ct_reference[k] == 5)
    affine = page.scene.current.volume.affine
    corners = [(affine @ np.array([c, r, k, 1.0]))[:3] for c, r in ((cols.min(), rows.min()), (cols.max(), rows.max()))]
    page.set_tool("box")
    view = page.scene.slice_views()["axial"]
    first = show_point(page, "axial", corners[0])
    click(view, first)
    assert page.scene.segments() == [] and not page.logic.jobs.busy  # one corner: nothing yet
    click(view, show_point(page, "axial", corners[1]))
    page.wait()
    assert page.state["error"] == "", page.state["error"]
    mask = only_segment(page)
    liver = ct_reference[k] == 5
    dice = 2 * (mask[k] & liver).sum() / (mask[k].sum() + liver.sum())
    assert dice >= 0.5, dice
    assert points(page.parameters.roi) == 0  # answered: the box tool is ready for the next box


def test_other_answer_replaces_a_points_result_and_undo_brings_it_back(page, engine, ct_image_path, liver_click):
    page.open(ct_image_path)
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    first = only_segment(page).copy()
    assert page.state["can_other_answer"]
    page.other_answer()
    page.wait()
    assert page.state["error"] == "" and "answer 2 of 3" in page.state["status"]
    other = only_segment(page)
    p = [0.0, 0.0, 0.0]
    page.parameters.positivePoints.GetNthControlPointPositionWorld(0, p)
    direct = engine.open(page.scene.current.volume).segment(
        {"space": "ras", "points": [p], "plane": "axial", "mode": "2d", "alternative": 1}).mask
    assert not np.array_equal(first, other) and np.array_equal(other > 0, direct > 0)
    page.undo()
    assert np.array_equal(only_segment(page), first) and points(page.parameters.positivePoints) == 1


def test_propagate_3d_fills_more_slices(page, ct_image_path, liver_click):
    page.open(ct_image_path)
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    page.propagate()
    page.wait()
    assert page.state["error"] == ""
    mask = only_segment(page)
    assert int((mask.reshape(mask.shape[0], -1).sum(axis=1) > 0).sum()) > 3
    assert "Quality" in page.state["status"]


# -- segments: several, names, find ------------------------------------------------------------------------

def test_new_segment_keeps_the_first_and_name_it_applies_a_coded_name(page, ct_image_path, liver_click):
    page.open(ct_image_path)
    view = page.scene.slice_views()["axial"]
    x, y = show_point(page, "axial", liver_ras(page, liver_click))
    click(view, (x, y))
    page.wait()
    page.new_segment()
    click(view, (x + 60, y + 30))
    page.wait()
    names = [s["name"] for s in page.state["segments"]]
    assert names == ["MedPCLIP 1", "MedPCLIP 2"], names
    page.select_segment(page.state["segments"][0]["id"])
    page.identify()
    page.wait()
    ranking = page.state["ranking"]
    assert len(ranking) == 5 and all(0 <= p <= 1 for _, p in ranking)
    page.apply_name(1)
    assert page.state["segments"][0]["name"] == ranking[1][0]
    from MedPCLIPModuleLib.undo import get_tag, terminology_tag

    segment = page.scene.segmentation.GetSegmentation().GetSegment(page.state["segments"][0]["id"])
    assert "SCT^" in get_tag(segment, terminology_tag())  # the name's SNOMED CT code (issue 13)
    page.apply_name(99)
    assert "pick a name" in page.state["error"]
    page.state["error"] = ""
    page.name_all()  # both segments at once, a different name each
    page.wait()
    names = [s["name"] for s in page.state["segments"]]
    assert page.state["error"] == "" and len(set(names)) == 2 and page.state["status"].startswith("Named 2 segments")


def test_find_writes_a_named_segment_and_a_brain_term_is_not_found(page, ct_image_path):
    page.open(ct_image_path)
    page.find("brain")
    page.wait()
    assert "not found" in page.state["error"] and page.scene.segments() == []
    page.state["error"] = ""
    page.find("liver")
    page.wait()
    assert page.state["error"] == "", page.state["error"]
    assert [s["name"] for s in page.state["segments"]] == ["liver"]


# -- saving ------------------------------------------------------------------------------------------------

def test_save_seg_nrrd_keeps_names_and_colours(page, ct_image_path, liver_click, tmp_path):
    import slicer

    page.open(ct_image_path)
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    page.identify()
    page.wait()
    page.apply_name(0)
    saved = page.save("seg.nrrd")
    assert saved is not None and saved.name == "image.seg.nrrd" and saved.is_file()
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(saved))
    assert storage.ReadData(node)
    seg = node.GetSegmentation()
    assert seg.GetNumberOfSegments() == 1
    expected = page.state["segments"][0]
    assert seg.GetNthSegment(0).GetName() == expected["name"] == page.state["ranking"][0][0]
    rgb = "#" + "".join(f"{int(round(c * 255)):02x}" for c in seg.GetNthSegment(0).GetColor())
    assert rgb == expected["color"]


def test_dicom_input_saves_a_coded_dicom_seg_and_other_input_says_why_not(page, ct_image_path, liver_click, tmp_path):
    import pydicom

    page.open(ct_image_path)
    assert page.save("dicom-seg") is None and "nothing to save" in page.state["error"]
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    assert page.save("dicom-seg") is None and "needs a DICOM series" in page.state["error"]
    assert not list((tmp_path / "out").glob("*.dcm"))
    write_dicom_series(ct_image_path, tmp_path / "dicom")
    page.open(tmp_path / "dicom")
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    page.new_segment()
    page.find("liver")
    page.wait()
    saved = page.save("dicom-seg")
    assert saved is not None, page.state["error"]
    ds = pydicom.dcmread(saved)
    assert ds.Modality == "SEG"
    labels = [s.SegmentLabel for s in ds.SegmentSequence]
    assert labels == ["MedPCLIP 1", "liver"]
    liver = ds.SegmentSequence[1]
    assert liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"  # SNOMED CT: liver


# -- bad input ---------------------------------------------------------------------------------------------

def test_an_unreadable_upload_is_an_error_and_loses_nothing(page, ct_image_path, liver_click, tmp_path):
    from medpclip.web.studies import save_uploads

    page.open(ct_image_path)
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    before = only_segment(page).copy()
    (tmp_path / "uploads").mkdir()
    path = save_uploads([{"name": "notes.txt", "content": b"not an image"}], tmp_path / "uploads")
    page.open(path)
    assert page.state["error"].startswith("cannot open notes.txt")
    assert page.state["volume_name"] == "image.nii.gz"
    assert np.array_equal(only_segment(page), before)
    with pytest.raises(ValueError, match="arrived empty"):
        save_uploads([{"name": "empty.nii.gz", "content": b""}], tmp_path / "uploads")


def test_a_server_that_is_down_is_an_error_in_the_page(ct_image_path, liver_click, tmp_path):
    from trame_slicer.views import DirectViewFactory

    from medpclip.web.controller import WebController
    from medpclip.web.scene import WebScene

    port = free_port()  # nothing listens there
    scene = WebScene(view_factory=DirectViewFactory(do_render_offscreen=True))
    scene.create_views()
    state: dict = {}
    page = WebController(scene, state, server_url=f"http://127.0.0.1:{port}", out_dir=tmp_path)
    try:
        for view in scene.slice_views().values():
            view.update_size(VIEW_W, VIEW_H)
            view.interactor().InvokeEvent("WindowResizeEvent")
        page.open(ct_image_path)
        click(scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
        page.wait()
        assert str(port) in state["error"] or "server" in state["error"].lower(), state["error"]
        assert scene.segments() == [] and points(page.parameters.positivePoints) == 0
    finally:
        page.logic.cleanup()
        scene.clear()


def drag(view, path, shift: bool = False) -> None:
    """A mouse drag along display points ``path`` (press at the first, release at the last)."""
    send(view, "MouseMove", path[0], shift)
    send(view, "LeftButtonPress", path[0], shift)
    for xy in path[1:]:
        send(view, "MouseMove", xy, shift)
    send(view, "LeftButtonRelease", path[-1], shift)


def liver_row_stroke(page, ct_reference, liver_click) -> tuple[list, np.ndarray, int]:
    """Display points of a stroke along the liver's deepest row (3 px inside it), its voxels' ijk, the slice."""
    from scipy import ndimage

    c, r, k = (int(round(v)) for v in liver_click)
    inner = ndimage.binary_erosion(ct_reference[k] == 5, iterations=3)
    cols = np.flatnonzero(inner[r])
    ijk = np.array([[x, r, k] for x in np.linspace(cols.min(), cols.max(), 8)])
    affine = page.scene.current.volume.affine
    path = [show_point(page, "axial", (affine @ np.r_[p, 1.0])[:3]) for p in ijk]
    return path, ijk, k


def test_a_painted_stroke_segments_like_the_engine_given_that_stroke(page, ct_image_path, liver_click,
                                                                     ct_reference, engine):
    """Paint tool: a drag paints a positive stroke into the module's stroke segments on the dragged voxels, and that
    change segments again: the segment is the engine's answer to the same painted voxels; no window / level drag."""
    page.open(ct_image_path)
    page.set_tool("paint")
    view = page.scene.slice_views()["axial"]
    window = page.parameters.inputVolume.GetDisplayNode().GetWindow()
    path, ijk, k = liver_row_stroke(page, ct_reference, liver_click)
    drag(view, path)
    page.wait()
    assert page.state["error"] == "", page.state["error"]
    assert page.parameters.inputVolume.GetDisplayNode().GetWindow() == window
    from MedPCLIPModuleLib import mrml_util as mu

    painted = mu.segment_array(page.parameters.strokes, "positive stroke", page.parameters.inputVolume) > 0
    assert painted.any() and set(np.flatnonzero(painted.any(axis=(1, 2)))) == {k}
    assert all(painted[k, int(round(y)), int(round(x))] for x, y, _ in ijk)  # every dragged point is painted
    mask = only_segment(page)
    strokes = painted.astype(np.uint8)
    direct = engine.open(page.scene.current.volume).segment({"mode": "2d", "plane": "axial"}, scribbles=strokes,
                                                           feedback=False).mask
    assert np.array_equal(mask > 0, direct > 0)
    liver = ct_reference[k] == 5
    dice = 2 * (mask[k] & liver).sum() / (mask[k].sum() + liver.sum())
    assert dice >= 0.4, dice
    # a negative stroke (Shift-drag) in the spleen's direction paints the other segment and segments again
    negative_before = mu.segment_array(page.parameters.strokes, "negative stroke", page.parameters.inputVolume).sum()
    drag(view, [(x, y - 25) for x, y in path[:3]], shift=True)
    page.wait()
    assert mu.segment_array(page.parameters.strokes, "negative stroke", page.parameters.inputVolume).sum() > \
        negative_before
    assert len(page.scene.segment_masks()) == 1  # the same segment, corrected
    page.clear_strokes()
    assert not page.strokes.ids(page.parameters)[0]
    assert len(page.scene.segment_masks()) == 1  # clearing strokes keeps the segments they made


def test_a_stroke_outside_the_image_paints_nothing(page, ct_image_path):
    page.open(ct_image_path)
    page.set_tool("paint")
    view = page.scene.slice_views()["axial"]
    drag(view, [(2, 2), (3, 2), (4, 3)])  # the view's corner, outside the fitted volume
    page.wait()
    assert "outside the image" in page.state["error"]
    assert page.scene.segments() == [] and not page.strokes.ids(page.parameters)[0]


def test_studies_lists_images_and_dicom_folders(tmp_path, ct_image_path):
    from medpclip.web.studies import list_studies

    (tmp_path / "root" / "case").mkdir(parents=True)
    write_dicom_series(ct_image_path, tmp_path / "root" / "ct_dicom")
    (tmp_path / "root" / "case" / "image.nii.gz").write_bytes(ct_image_path.read_bytes())
    (tmp_path / "root" / "case" / "label.nii.gz").write_bytes(b"x")
    names = [s.name for s in list_studies(tmp_path / "root")]
    assert names == ["case/image.nii.gz", "ct_dicom/"]
    assert [s.name for s in list_studies(tmp_path / "root" / "ct_dicom")] == ["ct_dicom"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image file"):
        list_studies(tmp_path / "empty")


def test_the_command_says_in_one_line_what_stops_it(ct_image_path, tmp_path):
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = {"in use; choose another with --port": [str(ct_image_path), "--port", str(port)],
                 "no such file or folder": [str(tmp_path / "missing.nii.gz"), "--port", "0"],
                 "no image file (NIfTI, NRRD, MHA) or DICOM series": [str(tmp_path), "--port", "0"]}
        for message, args in cases.items():
            run = subprocess.run([sys.executable, "-m", "medpclip", "web", *args], capture_output=True, text=True,
                                 encoding="utf-8", timeout=120)
            lines = run.stderr.strip().splitlines()
            assert run.returncode == 3 and len(lines) == 1 and message in lines[0], (run.returncode, lines)


def test_uploaded_dicom_files_open_as_one_series(page, ct_image_path, tmp_path):
    from medpclip.web.studies import save_uploads

    write_dicom_series(ct_image_path, tmp_path / "series")
    files = [{"name": f.name, "content": f.read_bytes()} for f in sorted((tmp_path / "series").iterdir())]
    (tmp_path / "uploads").mkdir()
    folder = save_uploads(files, tmp_path / "uploads")
    assert folder.is_dir() and len(list(folder.iterdir())) == len(files)
    page.open(folder)
    assert page.state["error"] == ""
    assert page.scene.current.volume.is_dicom and page.scene.current.volume.array.shape == (30, 101, 122)
    assert page.logic.modality == "CT"  # from the DICOM tag


def test_the_page_on_a_monai_label_server_segments_what_the_local_page_segments(page, server, ct_image_path,
                                                                                liver_click, tmp_path):
    """--server URL: the same click through the module's remote backend (a real MONAI Label server) gives the
    in-process page's segment."""
    from trame_slicer.views import DirectViewFactory

    from medpclip.web.controller import WebController
    from medpclip.web.scene import WebScene

    page.open(ct_image_path)
    click(page.scene.slice_views()["axial"], show_point(page, "axial", liver_ras(page, liver_click)))
    page.wait()
    local = only_segment(page)
    scene = WebScene(view_factory=DirectViewFactory(do_render_offscreen=True))
    scene.create_views()
    remote = WebController(scene, {}, server_url=server, out_dir=tmp_path)
    try:
        for view in scene.slice_views().values():
            view.update_size(VIEW_W, VIEW_H)
            view.render_window().SetSize(VIEW_W, VIEW_H)
            view.interactor().InvokeEvent("WindowResizeEvent")
        remote.open(ct_image_path)
        click(scene.slice_views()["axial"], show_point(remote, "axial", liver_ras(remote, liver_click)))
        remote.wait(timeout=300)
        assert remote.state["error"] == "", remote.state["error"]
        masks = scene.segment_masks()
        assert len(masks) == 1
        dice = 2 * (masks[0][0] & local).sum() / (masks[0][0].sum() + local.sum())
        assert dice >= 0.99, dice  # same engine; the server runs it on 1 thread
    finally:
        remote.logic.cleanup()
        scene.clear()

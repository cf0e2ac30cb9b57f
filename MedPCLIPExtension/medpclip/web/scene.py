"""The Slicer scene behind one web page: the trame-slicer application (MRML scene, slice views), the open volume
and the segmentation the page edits. No trame UI here, so tests drive it with offscreen views.

Volumes are read by ``medpclip.data.volume.read_image`` (the engine's own reader: NIfTI, NRRD, MHA, DICOM series
folders, with its clear errors) and put into the scene with that exact geometry, so a DICOM SEG written from the
page's segments lies on the grid of the series it references.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..data.volume import Volume, read_image
from . import module_lib

log = logging.getLogger(__name__)
mu = module_lib.load("mrml_util")

VIEWS = ("axial", "coronal", "sagittal")
CT_WINDOW_LEVEL = (400.0, 40.0)  # soft-tissue window for CT in Hounsfield units
SEGMENTATION_NAME = "MedPCLIP segments"


@dataclass
class OpenVolume:
    path: Path
    volume: Volume       # as the engine read it (array, affine, DICOM files, modality)
    node: object         # the vtkMRMLScalarVolumeNode shown in the views


class WebScene:
    """One page's scene: a trame-slicer ``SlicerApp`` with an axial, a coronal and a sagittal slice view."""

    def __init__(self, slicer_app=None, view_factory=None) -> None:
        from trame_slicer.core import SlicerApp
        from trame_slicer.views import ViewLayoutDefinition

        self.app = slicer_app or SlicerApp()
        if view_factory is not None:  # tests: offscreen views; the page registers its remote (RCA) factories
            self.app.view_manager.register_factory(view_factory)
        self.view_definitions = {"axial": ViewLayoutDefinition.axial_view(),
                                 "coronal": ViewLayoutDefinition.coronal_view(),
                                 "sagittal": ViewLayoutDefinition.sagittal_view()}
        self.current: OpenVolume | None = None
        self.segmentation = None
        self._fitted_on_resize: set[str] = set()  # views whose resizes refit them

    @property
    def scene(self):
        return self.app.scene

    # -- views --------------------------------------------------------------------------------------
    def create_views(self) -> None:
        for definition in self.view_definitions.values():
            if not self.app.view_manager.is_view_created(definition.singleton_tag):
                self.app.view_manager.create_view(definition)

    def slice_views(self) -> dict[str, object]:
        """{'axial': SliceView, ...} for the views created so far."""
        views = {}
        for plane, definition in self.view_definitions.items():
            view = self.app.view_manager.get_view(definition.singleton_tag)
            if view is not None:
                views[plane] = view
        return views

    def view_name(self, plane: str) -> str:
        """The slice view's layout name ('Red', 'Green', 'Yellow'), as the module logic names views."""
        return self.view_definitions[plane].singleton_tag

    # -- volume -------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> OpenVolume:
        """Read an image file or DICOM series folder and show it; the previous volume, its segments and prompts
        are removed only once the new one has been read (a file that cannot be read changes nothing)."""
        volume = read_image(path)  # VolumeError / OSError with one clear line
        self.clear()
        node = mu.add_scalar_volume(self.scene, volume.array, volume.affine, Path(path).name.split(".")[0] or "volume")
        display = node.GetDisplayNode()
        if volume.modality == "CT" and float(volume.array.min()) < -500:
            display.AutoWindowLevelOff()
            display.SetWindowLevel(*CT_WINDOW_LEVEL)
        self.segmentation = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", SEGMENTATION_NAME)
        self.segmentation.CreateDefaultDisplayNodes()
        self.segmentation.SetReferenceImageGeometryParameterFromVolumeNode(node)
        self.current = OpenVolume(Path(path), volume, node)
        self.app.display_manager.show_volume_in_slice_background(node)
        self.fit_on_resize()
        self.fit_views()
        log.info("opened %s: %s voxels, %s", path, volume.array.shape, volume.modality)
        return self.current

    def hold_renders(self, hold: bool = True, planes: tuple[str, ...] = VIEWS) -> None:
        """Stop (or restart, with one fresh frame each) rendering the views: while the model runs, the CPU is
        the model's (on 2 cores, drawing the placed point in three views first doubled a click's time)."""
        for plane, view in self.slice_views().items():
            if plane in planes and view.is_render_blocked != hold:
                view.set_render_blocked(hold)

    def renders_held(self) -> bool:
        return any(view.is_render_blocked for view in self.slice_views().values())

    def plane_of(self, view_name: str | None) -> str | None:
        return next((p for p, d in self.view_definitions.items() if d.singleton_tag == view_name), None)

    def fit_on_resize(self) -> None:
        """Fit each slice view to the volume whenever the browser resizes it (the first size arrives after the
        volume was opened)."""
        for plane, view in self.slice_views().items():
            if plane not in self._fitted_on_resize:
                view.interactor().AddObserver("WindowResizeEvent", lambda *_a, v=view: self._fit(v), -1.0)
                self._fitted_on_resize.add(plane)

    def _fit(self, view) -> None:
        if self.current is not None:
            view.fit_view_to_content()
            view.schedule_render()

    def fit_views(self) -> None:
        for view in self.slice_views().values():
            view.fit_view_to_content()
            view.schedule_render()

    def clear(self) -> None:
        """Remove the volume, the segmentation and every markups node of the page."""
        for cls in ("vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLMarkupsNode"):
            for node in list(self.scene.GetNodesByClass(cls)):
                self.scene.RemoveNode(node)
        self.current, self.segmentation = None, None

    # -- segments -----------------------------------------------------------------------------------
    def segments(self) -> list[dict]:
        """[{id, name, color: '#rrggbb'}, ...] of the page's segmentation."""
        if self.segmentation is None:
            return []
        seg = self.segmentation.GetSegmentation()
        out = []
        for n in range(seg.GetNumberOfSegments()):
            segment = seg.GetNthSegment(n)
            rgb = segment.GetColor()
            out.append({"id": seg.GetNthSegmentID(n), "name": segment.GetName(),
                        "color": "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgb)})
        return out

    def segment_masks(self) -> list[tuple[object, str]]:
        """[(mask [k, j, i] on the volume's grid, name), ...] of the non-empty segments."""
        if self.segmentation is None or self.current is None:
            return []
        out = []
        for s in self.segments():
            mask = mu.segment_array(self.segmentation, s["id"], self.current.node)
            if mask.any():
                out.append((mask, s["name"]))
        return out

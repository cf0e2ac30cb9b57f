"""Small MRML <-> numpy helpers used by the logic. No Qt, no ``slicer.util`` (which needs the Slicer app):
the same code runs in 3D Slicer and on the PyPI ``slicer-core`` package.

Conventions: numpy arrays from volumes are indexed ``[k, j, i]`` (i fastest), as in ``slicer.util.arrayFromVolume``.
"World" is Slicer's RAS world frame, i.e. *after* all parent transforms. The index->world matrix of a volume is
``world_from_ijk = T_parent_to_world @ IJKToRAS`` (linear transforms only; a non-linear parent transform is a clear
error: harden it first).
"""

from __future__ import annotations

import numpy as np
import vtk
from vtkmodules.util import numpy_support

import slicer


class MRMLGeometryError(ValueError):
    """A node whose geometry cannot be used (non-linear transform, missing image data, ...)."""


# -- vtk <-> numpy --------------------------------------------------------------------------------------

def vtk_image_from_array(arr_kji: np.ndarray, image=None):
    """A vtkImageData (or the given vtkImageData subclass instance) holding a copy of a [k, j, i] array."""
    arr = np.ascontiguousarray(arr_kji)
    if arr.ndim != 3:
        raise ValueError(f"a 3D [k, j, i] array is required, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    img = image if image is not None else vtk.vtkImageData()
    img.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    vtype = numpy_support.get_vtk_array_type(arr.dtype)
    img.AllocateScalars(vtype, 1)
    img.GetPointData().GetScalars().DeepCopy(numpy_support.numpy_to_vtk(arr.ravel(), deep=True, array_type=vtype))
    return img


def array_from_vtk_image(img) -> np.ndarray:
    """A [k, j, i] numpy copy of a single-component vtkImageData's scalars (honours a non-zero extent)."""
    if img is None or img.GetPointData() is None or img.GetPointData().GetScalars() is None:
        raise MRMLGeometryError("the image has no voxel data")
    scalars = img.GetPointData().GetScalars()
    if scalars.GetNumberOfComponents() != 1:
        raise MRMLGeometryError(f"the image has {scalars.GetNumberOfComponents()} components per voxel; "
                                "a single-component (grey-level) volume is required")
    e = img.GetExtent()
    dims = (e[1] - e[0] + 1, e[3] - e[2] + 1, e[5] - e[4] + 1)
    if min(dims) <= 0:
        return np.zeros((0, 0, 0), dtype=numpy_support.vtk_to_numpy(scalars).dtype)
    return numpy_support.vtk_to_numpy(scalars).reshape(dims[2], dims[1], dims[0]).copy()


def matrix_to_numpy(m) -> np.ndarray:
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)], dtype=float)


def numpy_to_matrix(a: np.ndarray):
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(a[r, c]))
    return m


# -- transforms -----------------------------------------------------------------------------------------

def node_to_world(node) -> np.ndarray:
    """4x4 matrix mapping the node's local coordinates to world (identity without a parent transform)."""
    parent = node.GetParentTransformNode() if node is not None else None
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise MRMLGeometryError(f"'{node.GetName()}' is under a non-linear transform ('{parent.GetName()}'); "
                                "harden the transform (Transforms module) or remove it first")
    m = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(m)
    return matrix_to_numpy(m)


def volume_world_affine(volume_node) -> np.ndarray:
    """index (i, j, k) -> world RAS, parent transforms included."""
    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    return node_to_world(volume_node) @ matrix_to_numpy(m)


def volume_array(volume_node) -> np.ndarray:
    """A [k, j, i] copy of a scalar volume's voxels (original dtype)."""
    if volume_node is None:
        raise MRMLGeometryError("no volume given")
    if not volume_node.IsA("vtkMRMLScalarVolumeNode"):
        raise MRMLGeometryError(f"'{volume_node.GetName()}' is not a scalar volume")
    img = volume_node.GetImageData()
    if img is None or img.GetPointData() is None or img.GetPointData().GetScalars() is None:
        raise MRMLGeometryError(f"volume '{volume_node.GetName()}' has no image data")
    return array_from_vtk_image(img)


def add_scalar_volume(scene, array_kji: np.ndarray, ijk_to_ras: np.ndarray, name: str):
    """A scalar volume node (with default display) holding a copy of a [k, j, i] array on ``ijk_to_ras``."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    node.SetAndObserveImageData(vtk_image_from_array(array_kji))
    node.SetIJKToRASMatrix(numpy_to_matrix(np.asarray(ijk_to_ras, float)))
    node.CreateDefaultDisplayNodes()
    return node


def volume_content_mtime(volume_node) -> int:
    """A number that changes whenever the voxels change (the geometry is keyed by the world affine)."""
    img = volume_node.GetImageData()
    return img.GetMTime() if img is not None else 0


def volume_patient_id(volume_node) -> str | None:
    """The patient a volume belongs to in the scene's subject hierarchy: its patient item's DICOM PatientID (what
    Slicer's DICOM import sets), else that item's name (a patient made by hand in the Data module); None when the
    volume sits under no patient. MONAI Label's fine-tune check keeps a patient's images on one side of its split."""
    scene = volume_node.GetScene()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene) if scene is not None else None
    if sh is None:
        return None
    constants = slicer.vtkMRMLSubjectHierarchyConstants
    item = sh.GetItemByDataNode(volume_node)
    while item and item != sh.GetSceneItemID():
        if sh.GetItemLevel(item) == constants.GetDICOMLevelPatient():
            patient = sh.GetItemAttribute(item, constants.GetDICOMPatientIDAttributeName()) or sh.GetItemName(item)
            return patient.strip() or None
        item = sh.GetItemParent(item)
    return None


# -- markups --------------------------------------------------------------------------------------------

def control_points_world(markups_node) -> list[list[float]]:
    """World positions of a markups node's defined control points."""
    if markups_node is None:
        return []
    out = []
    defined = getattr(slicer.vtkMRMLMarkupsNode, "PositionDefined", 2)
    for n in range(markups_node.GetNumberOfControlPoints()):
        if markups_node.GetNthControlPointPositionStatus(n) != defined:
            continue
        p = [0.0, 0.0, 0.0]
        markups_node.GetNthControlPointPositionWorld(n, p)
        out.append([float(v) for v in p])
    return out


def as_points(points) -> list[list[float]]:
    """Points given as a markups node, an (N, 3) array or a list of [x, y, z] -> list of world points."""
    if points is None:
        return []
    if hasattr(points, "GetNumberOfControlPoints"):
        return control_points_world(points)
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        return []
    if arr.ndim == 1 and arr.size == 3:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"points must be [x, y, z] triples (RAS mm), got an array of shape {arr.shape}")
    return arr.tolist()


def roi_corners_world(roi_node) -> list[list[float]]:
    """The 8 world corners of an ROI box (its rotation and parent transforms included)."""
    if roi_node.GetNumberOfControlPoints() == 0:
        raise MRMLGeometryError(f"ROI '{roi_node.GetName()}' is not placed")
    center = np.array(roi_node.GetCenter(), dtype=float)
    size = np.array(roi_node.GetSize(), dtype=float)
    if np.any(size < 0) or not np.all(np.isfinite(size)):
        raise MRMLGeometryError(f"ROI '{roi_node.GetName()}' has an invalid size {size.tolist()}")
    obj_to_node = matrix_to_numpy(roi_node.GetObjectToNodeMatrix())
    obj_to_world = node_to_world(roi_node) @ obj_to_node
    c_obj = (np.linalg.inv(obj_to_node) @ np.r_[center, 1.0])[:3]   # GetCenter is in node coordinates
    corners = np.array([c_obj + 0.5 * size * np.array((x, y, z)) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    return (obj_to_world @ np.c_[corners, np.ones(8)].T).T[:, :3].tolist()


def slice_view_plane(scene, slice_view_name: str | None) -> tuple[str | None, np.ndarray | None]:
    """('axial' | 'coronal' | 'sagittal', slice origin in world) of a slice view ('Red', 'Yellow', 'Green', ...).

    A reformatted view maps to the plane whose normal is closest to the view's normal."""
    if not slice_view_name:
        return None, None
    node = scene.GetNodeByID(f"vtkMRMLSliceNode{slice_view_name}")
    if node is None:
        for n in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            cand = scene.GetNthNodeByClass(n, "vtkMRMLSliceNode")
            if cand.GetLayoutName() == slice_view_name or cand.GetName() == slice_view_name:
                node = cand
                break
    if node is None:
        raise MRMLGeometryError(f"no slice view named '{slice_view_name}'")
    slice_to_ras = matrix_to_numpy(node.GetSliceToRAS())
    normal = slice_to_ras[:3, 2]
    axis = int(np.argmax(np.abs(normal)))
    return ("sagittal", "coronal", "axial")[axis], slice_to_ras[:3, 3]


# -- segments -------------------------------------------------------------------------------------------

def _oriented_geometry(image_to_world: np.ndarray, shape_kji: tuple[int, int, int]):
    img = slicer.vtkOrientedImageData()
    img.SetDimensions(shape_kji[2], shape_kji[1], shape_kji[0])
    img.SetImageToWorldMatrix(numpy_to_matrix(image_to_world))
    return img


def _segmentation_local_from_ijk(segmentation_node, volume_node) -> np.ndarray:
    """index of the volume -> the segmentation node's own (pre-transform) frame."""
    return np.linalg.inv(node_to_world(segmentation_node)) @ volume_world_affine(volume_node)


def has_segment(segmentation_node, segment_id: str | None) -> bool:
    return bool(segment_id) and segmentation_node.GetSegmentation().GetSegment(segment_id) is not None


def segment_snapshot(segmentation_node, segment_id: str):
    """A standalone binary copy (vtkOrientedImageData, segmentation frame) of one segment, or None if empty."""
    seg = segmentation_node.GetSegmentation()
    segment = seg.GetSegment(segment_id)
    if segment is None:
        raise MRMLGeometryError(f"segment '{segment_id}' is not in '{segmentation_node.GetName()}'")
    rep = slicer.vtkOrientedImageData()
    if not slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
            segmentation_node, segment_id, rep, False):
        return None
    if rep.GetPointData() is None or rep.GetPointData().GetScalars() is None:
        return None
    arr = array_from_vtk_image(rep)
    if arr.size == 0:
        return None
    binary = (arr == segment.GetLabelValue()).astype(np.uint8)  # layers are shared: keep this segment only
    out = slicer.vtkOrientedImageData()
    vtk_image_from_array(binary, out)
    out.SetExtent(rep.GetExtent())
    m = vtk.vtkMatrix4x4()
    rep.GetImageToWorldMatrix(m)
    out.SetImageToWorldMatrix(m)
    return out


def segment_array(segmentation_node, segment_id: str, volume_node) -> np.ndarray:
    """One segment as a [k, j, i] uint8 array on the volume's voxel grid (world-aligned, nearest neighbour)."""
    vol_shape = volume_array_shape(volume_node)
    snap = segment_snapshot(segmentation_node, segment_id)
    if snap is None:
        return np.zeros(vol_shape, np.uint8)
    ref = _oriented_geometry(_segmentation_local_from_ijk(segmentation_node, volume_node), vol_shape)
    ref.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    out = slicer.vtkOrientedImageData()
    ok = slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(snap, ref, out, False)
    if not ok:
        raise MRMLGeometryError(f"cannot resample segment '{segment_id}' onto volume '{volume_node.GetName()}'")
    arr = array_from_vtk_image(out)
    if arr.shape != vol_shape:  # the result may cover a sub-extent of the reference
        full = np.zeros(vol_shape, np.uint8)
        e = out.GetExtent()
        full[e[4]:e[5] + 1, e[2]:e[3] + 1, e[0]:e[1] + 1] = arr
        arr = full
    return (arr > 0).astype(np.uint8)


def volume_array_shape(volume_node) -> tuple[int, int, int]:
    img = volume_node.GetImageData()
    if img is None:
        raise MRMLGeometryError(f"volume '{volume_node.GetName()}' has no image data")
    d = img.GetDimensions()
    return d[2], d[1], d[0]


def write_segment(segmentation_node, segment_id: str, mask_kji: np.ndarray, volume_node) -> None:
    """Replace one segment's content by a [k, j, i] mask on the volume's grid. Other segments are never touched
    (Slicer separates a shared labelmap layer when the new content would overlap another segment)."""
    shape = volume_array_shape(volume_node)
    if tuple(mask_kji.shape) != shape:
        raise MRMLGeometryError(f"mask shape {mask_kji.shape} does not match volume '{volume_node.GetName()}' {shape}")
    img = slicer.vtkOrientedImageData()
    vtk_image_from_array((np.asarray(mask_kji) > 0).astype(np.uint8), img)
    img.SetImageToWorldMatrix(numpy_to_matrix(_segmentation_local_from_ijk(segmentation_node, volume_node)))
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if not logic.SetBinaryLabelmapToSegment(img, segmentation_node, segment_id, logic.MODE_REPLACE, img.GetExtent()):
        raise MRMLGeometryError(f"could not write segment '{segment_id}'")


def restore_segment(segmentation_node, segment_id: str, snapshot) -> None:
    """Put back a snapshot taken with ``segment_snapshot`` (None = empty segment)."""
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if snapshot is None:
        logic.ClearSegment(segmentation_node, segment_id)
        return
    if not logic.SetBinaryLabelmapToSegment(snapshot, segmentation_node, segment_id, logic.MODE_REPLACE,
                                            snapshot.GetExtent()):
        raise MRMLGeometryError(f"could not restore segment '{segment_id}'")


def ensure_reference_geometry(segmentation_node, volume_node) -> None:
    """Give an empty segmentation the volume's geometry (what the Segment Editor does on first use)."""
    seg = segmentation_node.GetSegmentation()
    if seg.GetNumberOfSegments() == 0:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    if segmentation_node.GetDisplayNode() is None:
        segmentation_node.CreateDefaultDisplayNodes()

"""Writing results: label maps in the input's geometry (NIfTI / NRRD / Slicer .seg.nrrd), float maps,
embeddings, and PNG overlays of the prompted slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.geometry import extract_slice, plane_axes, point_to_slice, to_ijk
from ..data.masks import largest_slices
from ..data.terminology import GENERIC, coding_for_name, slicer_terminology_entry
from ..fileio import atomic_write
from ..data.volume import Volume, VolumeError, write_array, write_label
from .session import Session


def write_mask(mask_kji: np.ndarray, like: Volume, path: str | Path, name: str = "segment") -> Path:
    """Label map in ``like``'s geometry; ``.seg.nrrd`` gets Slicer segment metadata (name, value, colour)."""
    path = Path(path)
    if not path.name.endswith(".seg.nrrd"):
        return write_label(mask_kji, like, path)
    import SimpleITK as sitk

    from ..data.volume import sitk_geometry_from_affine

    image = sitk.GetImageFromArray(np.ascontiguousarray(mask_kji.astype(np.uint8)))
    spacing, origin, direction = sitk_geometry_from_affine(like.affine)
    image.SetSpacing(spacing), image.SetOrigin(origin), image.SetDirection(direction)
    k, j, i = mask_kji.shape
    entry = coding_for_name(name)
    color = " ".join(f"{c / 255:.3g}" for c in entry["color"]) if entry and entry.get("color") else "0.9 0.5 0.2"
    meta = {"Segment0_ID": "Segment_1", "Segment0_Name": name, "Segment0_LabelValue": "1", "Segment0_Layer": "0",
            "Segment0_Color": color, "Segment0_Extent": f"0 {i - 1} 0 {j - 1} 0 {k - 1}",
            "Segment0_Tags": f"TerminologyEntry:{slicer_terminology_entry(entry)}|",
            "Segmentation_MasterRepresentation": "Binary labelmap", "Segmentation_ContainedRepresentationNames": "Binary labelmap|"}
    for key, value in meta.items():
        image.SetMetaData(key, value)
    return atomic_write(path, lambda tmp: sitk.WriteImage(image, tmp, useCompression=True))


def write_dicom_seg(mask_kji: np.ndarray, like: Volume, path: str | Path, name: str = "segment") -> Path:
    """DICOM SEG (binary, one segment) referencing the source series; only for volumes read from DICOM."""
    return write_dicom_seg_segments([(mask_kji, name)], like, path)


def write_dicom_seg_segments(segments: list[tuple[np.ndarray, str]], like: Volume, path: str | Path) -> Path:
    """DICOM SEG (binary) with one coded segment per (mask [k, j, i], name), referencing the source series."""
    import highdicom as hd
    import pydicom

    if not like.is_dicom or not like.dicom_files:
        raise VolumeError(f"{path}: DICOM SEG output needs a DICOM series as input")
    if not segments:
        raise VolumeError(f"{path}: no non-empty segment to write")
    for mask_kji, _ in segments:
        if mask_kji.shape != like.array.shape:
            raise VolumeError(f"mask shape {mask_kji.shape} does not match the image {like.array.shape}")
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in like.dicom_files]
    missing = [key for key in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
               if not all(str(getattr(ds, key, "") or "").strip() for ds in sources)]
    if missing:
        raise VolumeError(f"{path}: the DICOM series has no {' / '.join(missing)} on every slice (an anonymised "
                          "export?), so a DICOM SEG cannot reference it; write .seg.nrrd or .nii.gz instead")
    # (frames, rows, columns, segments); like.dicom_files are in the order of the array's slices
    pixels = np.stack([(np.asarray(m) > 0) for m, _ in segments], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels if len(segments) > 1 else pixels[..., 0],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(n + 1, name) for n, (_, name) in enumerate(segments)],
        series_instance_uid=hd.UID(), series_number=900, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="medpclip", manufacturer_model_name="MedP-CLIP", software_versions=_version(),
        device_serial_number="0", omit_empty_frames=False)
    return atomic_write(Path(path), lambda tmp: seg.save_as(tmp))


def _version() -> str:
    from .. import __version__

    return __version__


def _segment_description(number: int, name: str):
    """The coded DICOM segment description of a named segment (type + laterality modifier + anatomic region)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    entry = coding_for_name(name) or GENERIC

    def concept(c: dict[str, str]):
        return hd.sr.CodedConcept(c["value"], c["scheme"], c["meaning"])

    description = hd.seg.SegmentDescription(
        segment_number=number, segment_label=name[:64] or "segment",
        segmented_property_category=concept(entry["category"]), segmented_property_type=concept(entry["type"]),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="MedP-CLIP", version=_version(), family=codes.cid7162.ArtificialIntelligence),
        anatomic_regions=[concept(entry["region"])] if entry.get("region") else None)
    if entry.get("modifier"):  # laterality: a modifier of the property type (DICOM PS3.3 C.8.20.2)
        description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
            concept(entry["modifier"])]
    return description


def save_result(mask_kji: np.ndarray, like: Volume, path: str | Path, name: str = "segment") -> Path:
    """Write by extension: .dcm -> DICOM SEG, .seg.nrrd -> Slicer segmentation, else a label map."""
    if str(path).lower().endswith(".dcm"):
        return write_dicom_seg(mask_kji, like, path, name)
    return write_mask(mask_kji, like, path, name)


def write_float_map(map_kji: np.ndarray, like: Volume, path: str | Path) -> Path:
    return write_array(np.asarray(map_kji, dtype=np.float32), like, path)


def write_embedding(vector: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".npy":
        raise VolumeError(f"{path}: embeddings are written as .npy")
    return atomic_write(path, lambda tmp: np.save(tmp, vector.astype(np.float32)))


def save_overlay(session: Session, mask_kji: np.ndarray, path: str | Path, plane: str = "axial",
                 input_slice: int | None = None, points: list[list[float]] = (), labels: list[int] = (),
                 title: str = "", reference_kji: np.ndarray | None = None, space: str = "ijk") -> Path:
    """PNG of one slice: image, the mask in orange, optional reference contour in cyan, clicks (in ``space``) as
    dots; without ``input_slice``, the mask's largest slice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    canon_mask = session.orient.array_to_canonical(mask_kji > 0)
    if input_slice is None:
        idx = (largest_slices(canon_mask, 2 - plane_axes(plane)[0]) or [0])[0]
    else:
        idx = session.canon_slice_index(plane, input_slice)
    img = extract_slice(session.canon, plane, idx)
    m = extract_slice(canon_mask, plane, idx)
    sy, sx = session.grid(plane).rows, session.grid(plane).cols
    aspect = (session.grid(plane).h / sy) / (session.grid(plane).w / sx)
    fig, ax = plt.subplots(figsize=(5, 5 * min(2.0, max(0.5, sy * aspect / sx))))
    ax.imshow(img, cmap="gray", vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
    overlay = np.zeros((*m.shape, 4))
    overlay[m] = (1.0, 0.55, 0.1, 0.45)
    ax.imshow(overlay, aspect=aspect, interpolation="nearest")
    if reference_kji is not None:
        ref = extract_slice(session.orient.array_to_canonical(reference_kji > 0), plane, idx)
        if ref.any():
            ax.contour(ref.astype(float), levels=[0.5], colors="cyan", linewidths=1)
    canon_points = session.orient.ijk_to_canonical(to_ijk(np.array(points).reshape(-1, 3), space, session.volume.affine))
    for p, lab in zip(canon_points, labels):
        cidx, x, y = point_to_slice(p, plane, session.shape)
        if cidx == idx:
            ax.plot(x, y, "o", color="lime" if lab == 1 else "red", markersize=6, markeredgecolor="black")
    ax.set_title(title or f"{plane} slice {session.input_slice_index(plane, idx)}", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

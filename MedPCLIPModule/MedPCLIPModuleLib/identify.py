"""The identify job and naming a segment (undoable, with a standard terminology entry when Slicer knows the name).
No Qt here."""

from __future__ import annotations

import logging

import numpy as np
import slicer

from . import mrml_util as mu
from .backends import MedPCLIPError
from .undo import UndoRecord, UndoStack, get_tag, terminology_tag

log = logging.getLogger(__name__)


def segment_mask(volumeNode, segmentationNode, segmentId):
    """An existing segment to identify, on the volume's grid; an empty one is a clear error."""
    try:
        mask = mu.segment_array(segmentationNode, segmentId, volumeNode)
    except mu.MRMLGeometryError as exc:
        raise MedPCLIPError(str(exc)) from None
    if not mask.any():
        name = segmentationNode.GetSegmentation().GetSegment(segmentId).GetName()
        raise MedPCLIPError(f"segment '{name}' is empty inside volume '{volumeNode.GetName()}': nothing to identify")
    return mask


def apply_name(segmentationNode, segmentId, name: str, conceptId: str | None, undo: UndoStack) -> bool:
    """Name the segment (undoable); also set a standard terminology entry when Slicer's terminology module knows
    the name. Returns whether a terminology entry was set."""
    record, coded = _rename(segmentationNode, segmentId, name, conceptId)
    undo.push(record)
    return coded


def segment_labels(volumeNode, segmentationNode) -> tuple[list[str], np.ndarray]:
    """Every non-empty segment of the segmentation as one label map on the volume's grid (segment ``ids[n]`` is
    value n + 1; where segments overlap, the later one's value), read one segment at a time: (ids, label map)."""
    seg = segmentationNode.GetSegmentation() if segmentationNode is not None else None
    ids, labels = [], None
    for sid in [seg.GetNthSegmentID(n) for n in range(seg.GetNumberOfSegments())] if seg is not None else []:
        try:
            mask = mu.segment_array(segmentationNode, sid, volumeNode) > 0
        except mu.MRMLGeometryError as exc:
            raise MedPCLIPError(str(exc)) from None
        if mask.any():
            labels = np.zeros(mask.shape, np.uint8) if labels is None else labels
            ids.append(sid)
            if len(ids) > 255:
                raise MedPCLIPError("more than 255 segments: name at most 255 at once")
            labels[mask] = len(ids)
    if not ids:
        raise MedPCLIPError("the segmentation has no non-empty segment to name")
    return ids, labels


def apply_names(segmentationNode, named: list[tuple[str, str, str | None]], undo: UndoStack) -> int:
    """Name several segments ((segment id, name, concept id) each) as one undoable step; returns how many got a
    terminology entry."""
    records, coded = zip(*[_rename(segmentationNode, *entry) for entry in named])
    head, *rest = records
    head.group, head.description = list(rest), f"name {len(records)} segments"
    undo.push(head)
    return sum(coded)


def _rename(segmentationNode, segmentId, name: str, conceptId: str | None) -> tuple[UndoRecord, bool]:
    """Set a segment's name (and terminology entry); returns the record that undoes it and whether it is coded."""
    if segmentationNode is None or not mu.has_segment(segmentationNode, segmentId):
        raise MedPCLIPError("select a segment to name")
    if not name or not str(name).strip():
        raise MedPCLIPError("the name is empty")
    name = str(name).strip()
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    tag = terminology_tag()
    old_tags = {tag: get_tag(segment, tag)} if segment.HasTag(tag) else {}
    record = UndoRecord(f"rename {segment.GetName()}", segmentationNode.GetID(), segmentId, False,
                        oldName=segment.GetName(), restoreContent=False, oldTags=old_tags)
    segment.SetName(name)
    entry = terminology_entry(name, conceptId)
    if entry:
        if hasattr(segment, "SetTerminology"):
            segment.SetTerminology(entry)
        else:
            segment.SetTag(tag, entry)
    return record, bool(entry)


def terminology_entry(name: str, conceptId: str | None) -> str | None:
    """Serialized terminology entry: from Slicer's loaded terminologies (matched by 3D Slicer label) when the
    terminology module has the name, else from medpclip's coded vocabulary (the SNOMED CT codes ``identify``
    returned with the name); None for free text."""
    return _slicer_terminology_entry(name, conceptId) or _coded_vocabulary_entry(name, conceptId)


def _coded_vocabulary_entry(name: str, conceptId: str | None) -> str | None:
    from medpclip.data.terminology import coding_for_name, slicer_terminology_entry

    entry = (coding_for_name(conceptId) if conceptId else None) or coding_for_name(name)
    return slicer_terminology_entry(entry) if entry else None


def _slicer_terminology_entry(name: str, conceptId: str | None) -> str | None:
    try:
        termLogic = slicer.modules.terminologies.logic()
    except Exception:
        return None  # no terminology module (e.g. slicer-core outside the app)
    try:
        import vtk

        names = vtk.vtkStringArray()
        termLogic.GetLoadedTerminologyNames(names)
        contexts = [names.GetValue(n) for n in range(names.GetNumberOfValues())]
        contexts.sort(key=lambda c: 0 if "General Anatomy" in c else 1)
        entry = slicer.vtkSlicerTerminologyEntry()
        candidates = [name, name.lower()] + ([conceptId.replace("_", " ")] if conceptId else [])
        for context in contexts:
            for label in candidates:
                if termLogic.FindTypeInTerminologyBy3dSlicerLabel(context, label, entry):
                    return termLogic.SerializeTerminologyEntry(entry)
    except Exception as exc:  # terminology is a nicety; never fail naming because of it
        log.debug("terminology lookup failed: %s", exc)
    return None

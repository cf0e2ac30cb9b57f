"""The identify job and naming a segment (undoable, with a standard terminology entry when Slicer knows the name).
No Qt here."""

from __future__ import annotations

import logging

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
    undo.push(record)
    return bool(entry)


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

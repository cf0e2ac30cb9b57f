"""Undo of the module's results: a segment written, a segment created, a name applied. No Qt here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import slicer

from . import mrml_util as mu
from .backends import MedPCLIPError

UNDO_DEPTH = 10


@dataclass
class UndoRecord:
    description: str
    segmentationNodeID: str
    segmentId: str
    created: bool                 # the segment was created by this action -> undo removes it
    snapshot: Any = None          # vtkOrientedImageData (segmentation frame) or None (was empty)
    oldName: str | None = None
    restoreContent: bool = True
    oldTags: dict = field(default_factory=dict)
    group: list = field(default_factory=list)  # records undone together with this one (naming all segments)


def terminology_tag() -> str:
    return slicer.vtkSegment.GetTerminologyEntryTagName()


def get_tag(segment, tag: str) -> str:
    import vtk

    value = vtk.reference("")
    segment.GetTag(tag, value)
    return str(value.get())


class UndoStack:
    """The last ``UNDO_DEPTH`` results, newest last."""

    def __init__(self) -> None:
        self._records: list[UndoRecord] = []

    def push(self, record: UndoRecord) -> None:
        self._records.append(record)
        del self._records[:-UNDO_DEPTH]

    def __bool__(self) -> bool:
        return bool(self._records)

    @property
    def newest(self) -> UndoRecord | None:
        return self._records[-1] if self._records else None

    def description(self) -> str:
        return self._records[-1].description if self._records else ""

    def clear(self) -> None:
        self._records.clear()

    def undo(self, scene) -> str:
        """Undo the newest record; returns its description."""
        if not self._records:
            raise MedPCLIPError("nothing to undo")
        record = self._records.pop()
        node = scene.GetNodeByID(record.segmentationNodeID)
        if node is None:
            raise MedPCLIPError("the segmentation of the last result was deleted; nothing to undo")
        rollback(node, record)
        return record.description


def rollback(segmentationNode, record: UndoRecord) -> None:
    """Put the segment of ``record`` back as it was (or remove it when the action created it), and its group's."""
    for member in record.group:
        rollback(segmentationNode, member)
    seg = segmentationNode.GetSegmentation()
    if record.created:
        if seg.GetSegment(record.segmentId) is not None:
            seg.RemoveSegment(record.segmentId)
        return
    segment = seg.GetSegment(record.segmentId)
    if segment is None:
        raise MedPCLIPError(f"segment '{record.segmentId}' no longer exists; nothing to undo")
    if record.restoreContent:
        mu.restore_segment(segmentationNode, record.segmentId, record.snapshot)
    if record.oldName is not None:
        segment.SetName(record.oldName)
        tag = terminology_tag()
        if tag in record.oldTags:
            segment.SetTag(tag, record.oldTags[tag])
        elif segment.HasTag(tag):
            segment.RemoveTag(tag)

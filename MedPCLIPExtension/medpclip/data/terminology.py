"""Standard codes of the vocabulary's concepts (``terminology.json``, built by scripts/build_terminology.py):
DICOM / SNOMED CT segmented-property category, type and modifier, an anatomic region where the type alone does
not say where (a mass *in the kidney*), a display colour, and whether the code is the concept's own or the
nearest entry of 3D Slicer's general-anatomy list. Used by ``identify`` (codes beside names), DICOM SEG and
Slicer segmentation output."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

TERMINOLOGY_PATH = Path(__file__).with_name("terminology.json")
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
# what a region without a known concept is written as (DICOM SEG needs a category and a type)
GENERIC = {"category": {"scheme": "SCT", "value": "85756007", "meaning": "Tissue"},
           "type": {"scheme": "SCT", "value": "85756007", "meaning": "Tissue"},
           "modifier": None, "region": None, "color": None, "source": "generic", "exact": False}


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    return json.loads(TERMINOLOGY_PATH.read_text())


def coding(concept_id: str) -> dict[str, Any] | None:
    """The codes of a knowledge-table concept id, or None (free text)."""
    return _table()["concepts"].get(concept_id)


def coding_for_name(name: str) -> dict[str, Any] | None:
    """The codes of a segment name (a concept's name, synonym or dataset alias), or None (free text)."""
    from .vocabulary import lookup

    concept = lookup(name) if isinstance(name, str) and 0 < len(name) <= 200 else None
    return coding(concept.id) if concept is not None else None


def code_text(entry: dict[str, Any]) -> str:
    """``SCT 15825003 Aorta`` (+ ``, Left``): the type code (and modifier) in one line."""
    text = f"{entry['type']['scheme']} {entry['type']['value']} {entry['type']['meaning']}"
    return text + (f", {entry['modifier']['meaning']}" if entry.get("modifier") else "")


def slicer_terminology_entry(entry: dict[str, Any] | None) -> str:
    """A segment's ``TerminologyEntry`` tag as 3D Slicer writes it (context~category~type~modifier~anatomic
    context~region~region modifier; each code as ``scheme^value^meaning``)."""
    entry = entry or GENERIC

    def code(c: dict[str, str] | None) -> str:
        return f"{c['scheme']}^{c['value']}^{c['meaning']}" if c else "^^"

    return "~".join([_table()["slicer_context"], code(entry["category"]), code(entry["type"]),
                     code(entry.get("modifier")), ANATOMIC_CONTEXT, code(entry.get("region")), "^^"])

#!/usr/bin/env python3
"""Build ``medpclip/data/terminology.json``: a standard code (DICOM / SNOMED CT category, type, modifier,
anatomic region) for every concept of the knowledge table.

Sources (``../shared/training/vocabulary``, see its README for licences): TotalSegmentator's SNOMED mapping of
its classes (Apache-2.0) and 3D Slicer's general-anatomy terminology (BSD-style), the list the Segment Editor
offers. Concepts are matched, in order: by TotalSegmentator class name (the concept id or a dataset alias), by
the Slicer entry's name (concept name or synonym, with a Left / Right modifier from the concept's laterality),
then by the hand-made table below, which maps the rest (FreeSurfer structures, BRATS sub-regions, lesions) onto
the nearest Slicer entry; those are marked ``"exact": false``. Run it again when either source or the
knowledge table changes:

    python scripts/build_terminology.py [--vocabulary ../shared/training/vocabulary]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "MedPCLIPExtension" / "medpclip" / "data"
SLICER_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"

# concept id -> (Slicer category, type, modifier or None, anatomic region type or None): the nearest entry
NEAREST = {
    "rectum": ("Anatomical Structure", "Colon", None, None),
    "ureter": ("Anatomical Structure", "Urinary system", None, None),
    "prostate_peripheral_zone": ("Anatomical Structure", "Prostate", None, None),
    "prostate_transition_zone": ("Anatomical Structure", "Prostate", None, None),
    "breast": ("Tissue", "Organ", None, None),
    "hippocampus": ("Anatomical Structure", "Limbic lobe", None, None),
    "left_hippocampus": ("Anatomical Structure", "Limbic lobe", "Left", None),
    "right_hippocampus": ("Anatomical Structure", "Limbic lobe", "Right", None),
    "vertebrae": ("Tissue", "Bone", None, None),
    "intervertebral_discs": ("Tissue", "Cartilage", None, None),
    "liver_cyst": ("Morphologically Altered Structure", "Cyst", None, "Liver"),
    "kidney_cyst": ("Morphologically Altered Structure", "Cyst", None, "Kidney"),
    "kidney_tumor": ("Morphologically Altered Structure", "Mass", None, "Kidney"),
    "lung_nodule": ("Morphologically Altered Structure", "Mass", None, "Lung"),
    "lung_tumor": ("Morphologically Altered Structure", "Mass", None, "Lung"),
    "pancreatic_tumor": ("Morphologically Altered Structure", "Mass", None, "Pancreas"),
    "brain_tumor": ("Morphologically Altered Structure", "Mass", None, "Brain"),
    "brain_metastasis": ("Morphologically Altered Structure", "Mass", None, "Brain"),
    "breast_lesion": ("Morphologically Altered Structure", "Mass", None, None),
    "thyroid_nodule": ("Morphologically Altered Structure", "Mass", None, "Thyroid"),
    "colon_tumor": ("Morphologically Altered Structure", "Mass", None, "Colon"),
    "enhancing_tumour": ("Morphologically Altered Structure", "Mass", None, "Brain"),
    "non_enhancing_tumour": ("Morphologically Altered Structure", "Mass", None, "Brain"),
    "lymphadenopathy": ("Tissue", "Lymph node", None, None),
    "ascites": ("Body Substance", "Body fluid", None, "Peritoneal cavity"),
    "left_inferior_lateral_ventricle": ("Anatomical Structure", "Lateral ventricle", "Left", None),
    "right_inferior_lateral_ventricle": ("Anatomical Structure", "Lateral ventricle", "Right", None),
    "left_cerebellum_cortex": ("Anatomical Structure", "Gray Matter", None, None),
    "right_cerebellum_cortex": ("Anatomical Structure", "Gray Matter", None, None),
    "left_accumbens_area": ("Anatomical Structure", "Corpus striatum", "Left", None),
    "right_accumbens_area": ("Anatomical Structure", "Corpus striatum", "Right", None),
    "left_ventral_dc": ("Anatomical Structure", "Diencephalon", None, None),
    "right_ventral_dc": ("Anatomical Structure", "Diencephalon", None, None),
    "third_ventricle": ("Anatomical Structure", "Brain ventricle", None, None),
    "csf": ("Anatomical Structure", "Brain cerebrospinal fluid pathway", None, None),
    "brainstem": ("Anatomical Structure", "Brain", None, None),
}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _code(scheme: str, value: str, meaning: str) -> dict[str, str] | None:
    return {"scheme": scheme, "value": value, "meaning": meaning} if value else None


def _slicer_code(entry: dict) -> dict[str, str]:
    return _code(entry["CodingSchemeDesignator"], entry["CodeValue"], entry["CodeMeaning"])


def load_totalsegmentator(path: Path) -> dict[str, dict]:
    out = {}
    for row in csv.DictReader(path.open()):
        def seq(name: str) -> dict[str, str] | None:
            return _code(row[f"{name}.CodingSchemeDesignator"], row[f"{name}.CodeValue"], row[f"{name}.CodeMeaning"])

        out[row["Structure"]] = {
            "category": seq("SegmentedPropertyCategoryCodeSequence"), "type": seq("SegmentedPropertyTypeCodeSequence"),
            "modifier": seq("SegmentedPropertyTypeModifierCodeSequence"), "region": seq("AnatomicRegionSequence"),
            "color": [int(c) for c in row["DicomRGBColor"].split(",")] if row["DicomRGBColor"] else None,
            "source": "TotalSegmentator", "exact": True}
    return out


def load_slicer(path: Path) -> dict[tuple[str, str], tuple[dict, dict]]:
    """(category meaning, type meaning) -> (category entry, type entry); the first of duplicates wins."""
    out: dict[tuple[str, str], tuple[dict, dict]] = {}
    for cat in json.loads(path.read_text())["SegmentationCodes"]["Category"]:
        for typ in cat.get("Type", []):
            out.setdefault((cat["CodeMeaning"], typ["CodeMeaning"]), (cat, typ))
    return out


def slicer_coding(cat: dict, typ: dict, modifier: str | None, region: dict | None, exact: bool) -> dict:
    mods = {m["CodeMeaning"]: m for m in typ.get("Modifier") or []}
    rgb = (mods.get(modifier) or typ).get("recommendedDisplayRGBValue")
    return {"category": _slicer_code(cat), "type": _slicer_code(typ),
            "modifier": _slicer_code(mods[modifier]) if modifier in mods else None, "region": region,
            "color": list(rgb) if rgb else None, "source": "3D Slicer general anatomy" + ("" if exact else " (nearest entry)"),
            "exact": exact}


def build(vocabulary: Path) -> dict[str, dict]:
    entries = json.loads((DATA / "knowledge.json").read_text())["entries"]
    ts = load_totalsegmentator(vocabulary / "totalsegmentator_snomed_mapping.csv")
    slicer = load_slicer(vocabulary / "SegmentationCategoryTypeModifier-SlicerGeneralAnatomy.json")
    by_type = {}
    for (cat_name, type_name), pair in slicer.items():
        by_type.setdefault(_key(type_name), pair)
    out: dict[str, dict] = {}
    for e in entries:
        cid = e["id"]
        ts_name = next((n for n in [cid, *e.get("aliases", ())] if n in ts), None)
        if ts_name is not None:
            out[cid] = ts[ts_name]
            continue
        side = {"left": "Left", "right": "Right"}.get(e.get("laterality", "none"))
        names = [e["name"], *e.get("synonyms", ())]
        keys = [_key(n) for n in names] + [re.sub(r"^(left|right) ", "", _key(n)) for n in names]
        pair = next((by_type[k] for k in keys if k in by_type), None)
        if pair is not None:
            out[cid] = slicer_coding(*pair, side, None, True)
            continue
        if cid in NEAREST:
            cat_name, type_name, modifier, region_name = NEAREST[cid]
            region = None
            if region_name:
                region = _slicer_code(slicer[("Anatomical Structure", region_name)][1])
            out[cid] = slicer_coding(*slicer[(cat_name, type_name)], modifier, region, False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocabulary", type=Path, default=REPO.parent / "shared" / "training" / "vocabulary")
    args = ap.parse_args()
    codes = build(args.vocabulary)
    total = len(json.loads((DATA / "knowledge.json").read_text())["entries"])
    doc = {"about": "Standard codes of the knowledge table's concepts; built by scripts/build_terminology.py from "
                    "TotalSegmentator's SNOMED mapping (Apache-2.0) and 3D Slicer's general-anatomy terminology "
                    "(BSD-style).", "slicer_context": SLICER_CONTEXT, "concepts": codes}
    (DATA / "terminology.json").write_text(json.dumps(doc, indent=1) + "\n")
    exact = sum(c["exact"] for c in codes.values())
    print(f"{len(codes)} of {total} concepts coded ({exact} exactly, {len(codes) - exact} by the nearest entry)")


if __name__ == "__main__":
    main()

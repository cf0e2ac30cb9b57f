"""Coded vocabulary (issue 13): every concept carries standard codes; identify, DICOM SEG, Slicer .seg.nrrd
and the MONAI Label app carry them on. Real files (SimpleITK-written DICOM, highdicom SEG read back)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medpclip.data.terminology import TERMINOLOGY_PATH, code_text, coding, slicer_terminology_entry
from medpclip.data.vocabulary import all_concepts, resolve
from medpclip.data.volume import VolumeError, read_image
from medpclip.engine.outputs import save_result

from helpers import write_dicom_series

VOCABULARY = Path(__file__).resolve().parents[2] / "shared" / "training" / "vocabulary"
SCT_CODE = re.compile(r"^\d{5,18}$")


def test_every_concept_has_a_snomed_coding():
    for concept in all_concepts():
        entry = coding(concept.id)
        assert entry is not None, concept.id
        for part in ("category", "type"):
            assert entry[part]["scheme"] == "SCT" and SCT_CODE.match(entry[part]["value"]), (concept.id, entry)
        if concept.laterality in ("left", "right") and entry["exact"] and entry["modifier"]:
            assert entry["modifier"]["meaning"].lower() == concept.laterality, concept.id


def test_dataset_names_map_to_their_codes():
    assert coding(resolve("kidney_left").id)["type"]["meaning"] == "Kidney"
    assert coding(resolve("kidney_left").id)["modifier"]["meaning"] == "Left"
    assert coding(resolve("Spleen").id)["type"]["value"] == "78961009"
    assert code_text(coding("aorta")) == "SCT 15825003 Aorta"
    tumour = coding("kidney_tumor")
    assert tumour["type"]["meaning"] == "Mass" and tumour["region"]["meaning"] == "Kidney" and not tumour["exact"]


@pytest.mark.skipif(not VOCABULARY.is_dir(), reason="the vocabulary sources live in ../shared (not in a clone)")
def test_shipped_table_matches_its_sources():
    """terminology.json is what scripts/build_terminology.py makes of the sources (rebuild when they change)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import build_terminology

    assert build_terminology.build(VOCABULARY) == json.loads(TERMINOLOGY_PATH.read_text())["concepts"]
    rows = {r["Structure"]: r for r in csv.DictReader((VOCABULARY / "totalsegmentator_snomed_mapping.csv").open())}
    assert coding("liver")["type"]["value"] == rows["liver"]["SegmentedPropertyTypeCodeSequence.CodeValue"]


def test_slicer_terminology_entry_format():
    text = slicer_terminology_entry(coding("kidney_left"))
    parts = text.split("~")
    assert parts[0] == "Segmentation category and type - 3D Slicer General Anatomy list" and len(parts) == 7
    assert parts[2] == "SCT^64033007^Kidney" and parts[3] == "SCT^7771000^Left"
    assert slicer_terminology_entry(None).split("~")[2] == "SCT^85756007^Tissue"


def test_identify_returns_codes(engine, ct_image_path, ct_label_path, ct_labels):
    session = engine.open(ct_image_path)
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(ct_label_path)))
    value = next(v for v, n in ct_labels.items() if n == "liver")
    cands = session.identify(mask=lab == value, vocabulary=["liver", "spleen", "a free-text blob"], top_k=3)
    by_name = {c["name"]: c for c in cands}
    assert by_name["liver"]["code"].startswith("SCT 10200004") and by_name["liver"]["coding"]["exact"] is True
    assert "code" not in by_name["a free-text blob"]  # unknown names still work, without a code
    default = session.identify(mask=lab == value, top_k=5)
    assert all("code" in c and "coding" in c for c in default)


def test_dicom_seg_carries_the_coded_description(engine, ct_image_path, tmp_path):
    write_dicom_series(ct_image_path, tmp_path / "dicom")
    vol = read_image(tmp_path / "dicom")
    mask = np.zeros(vol.array.shape, np.uint8)
    mask[2:5, 20:40, 20:40] = 1
    ds = pydicom.dcmread(save_result(mask, vol, tmp_path / "kidney.dcm", name="kidney_left"))
    seg = ds.SegmentSequence[0]
    typ = seg.SegmentedPropertyTypeCodeSequence[0]
    assert (typ.CodingSchemeDesignator, typ.CodeValue, typ.CodeMeaning) == ("SCT", "64033007", "Kidney")
    assert typ.SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning == "Left"
    assert seg.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "123037004"
    ds = pydicom.dcmread(save_result(mask, vol, tmp_path / "mass.dcm", name="kidney tumour"))
    assert ds.SegmentSequence[0].AnatomicRegionSequence[0].CodeMeaning == "Kidney"
    ds = pydicom.dcmread(save_result(mask, vol, tmp_path / "free.dcm", name="my blob"))
    assert ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Tissue"


def _strip_uids(folder: Path) -> None:
    for f in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        del ds.SOPInstanceUID
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
        ds.save_as(f)


def test_dicom_seg_of_a_series_without_sop_instance_uids_is_one_clear_line(engine, ct_image_path, tmp_path):
    write_dicom_series(ct_image_path, tmp_path / "dicom")
    _strip_uids(tmp_path / "dicom")
    vol = read_image(tmp_path / "dicom")
    mask = np.ones(vol.array.shape, np.uint8)
    with pytest.raises(VolumeError, match="no SOPInstanceUID .* cannot reference it"):
        save_result(mask, vol, tmp_path / "seg.dcm", name="liver")
    assert not (tmp_path / "seg.dcm").exists()
    p = subprocess.run([sys.executable, "-m", "medpclip.cli", "segment", str(tmp_path / "dicom"), "--point", "49,40,14",
                        "--out", str(tmp_path / "cli.dcm")], capture_output=True, text=True, encoding="utf-8",
                       timeout=300)
    assert p.returncode == 3, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip() and not line.startswith("INFO")]
    assert len(lines) == 1 and "cannot reference it" in lines[0] and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "cli.dcm").exists()


def test_seg_nrrd_keeps_name_colour_and_terminology(engine, ct_image_path, tmp_path):
    vol = read_image(ct_image_path)
    mask = np.zeros(vol.array.shape, np.uint8)
    mask[3, 10:20, 10:20] = 1
    out = save_result(mask, vol, tmp_path / "aorta.seg.nrrd", name="aorta")
    img = sitk.ReadImage(str(out))
    assert img.GetMetaData("Segment0_Name") == "aorta"
    assert img.GetMetaData("Segment0_Color") == " ".join(f"{c / 255:.3g}" for c in coding("aorta")["color"])
    assert "SCT^15825003^Aorta" in img.GetMetaData("Segment0_Tags")

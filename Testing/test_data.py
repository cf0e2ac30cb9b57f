"""Data pipeline: loading errors, vocabulary, region -> prompt sampling, hold-out rule."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from medpclip.data.cases import load_case
from medpclip.data.datalist import load_cases
from medpclip.data.holdout import eval_slices, train_slices
from medpclip.data.region_prompts import PROMPT_KINDS, sample_prompt
from medpclip.data.vocabulary import VocabularyError, knowledge, resolve, sentences
from medpclip.data.volume import VolumeError, guess_modality, read_image, read_label

from conftest import CT_CASE, SAMPLES


def test_knowledge_table_covers_every_sample_class():
    entries = {c.id for c in knowledge().values()}
    assert len(entries) >= 100
    folders = [*SAMPLES.glob("*/labels.json"), *SAMPLES.glob("heldout_patients/*/labels.json")]
    assert len(folders) >= 7
    for labels_json in folders:
        for name in json.loads(labels_json.read_text()).values():
            assert resolve(name).id  # strict: raises if unknown


def test_dataset_names_map_to_words():
    assert resolve("kidney_left").name == "left kidney"
    assert resolve("vertebrae_L1").name.startswith("L1")
    assert resolve("Kidney L").id == "kidney_left" or resolve("kidney left").id == "kidney_left"
    with pytest.raises(VocabularyError, match="unknown label name"):
        resolve("flux_capacitor")
    assert resolve("flux_capacitor", strict=False).name == "flux capacitor"


def test_text_names_the_structure():
    c = resolve("kidney_left")
    texts = sentences(c, "CT")
    assert all(c.name in t or any(s in t for s in c.synonyms) or c.definition in t for t in texts)
    assert any("CT" in t for t in texts)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
def test_prompts_consistent_with_masks(kind):
    rng = random.Random(0)
    labels = np.zeros((64, 64), np.int16)
    labels[20:40, 10:30] = 1
    labels[20:40, 31:50] = 2  # a neighbour for negatives
    mask = labels == 1
    for _ in range(50):
        p = sample_prompt(mask, labels, rng, kind=kind)
        for (x, y), lab in zip(p.points, p.labels):
            inside = mask[int(round(y)), int(round(x))]
            assert inside if lab == 1 else not inside
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            ys, xs = np.nonzero(mask)
            assert x0 <= xs.min() and y0 <= ys.min() and x1 >= xs.max() and y1 >= ys.max()
        if p.region_mask is not None:
            assert (p.region_mask & mask).sum() > 0.5 * mask.sum()


def test_holdout_is_disjoint_from_training():
    case = load_case(load_cases(CT_CASE)[0])
    held, train = set(eval_slices(case.canon_label)), set(train_slices(case.canon_label))
    assert held and train and not (held & train)
    assert all(abs(h - t) > 1 for h in held for t in train)  # guard slice


def _case_dir(tmp_path, name="case"):
    d = tmp_path / name
    shutil.copytree(CT_CASE, d)
    return d


def test_label_geometry_mismatch_is_a_clear_error(tmp_path):
    d = _case_dir(tmp_path)
    lab = sitk.ReadImage(str(d / "label.nii.gz"))
    (d / "label.nii.gz").unlink()
    sitk.WriteImage(lab[:, :, :20], str(d / "label.nii.gz"))
    with pytest.raises(VolumeError, match="does not match its image"):
        load_case(load_cases(d)[0])


def test_empty_label_map_is_a_clear_error(tmp_path):
    d = _case_dir(tmp_path)
    lab = sitk.ReadImage(str(d / "label.nii.gz"))
    sitk.WriteImage(lab * 0, str(d / "label.nii.gz"))
    with pytest.raises(VolumeError, match="empty"):
        load_case(load_cases(d)[0])


def test_unknown_label_names_are_a_clear_error(tmp_path):
    d = _case_dir(tmp_path)
    labels = json.loads((d / "labels.json").read_text())
    labels["5"] = "flux_capacitor"
    (d / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(VocabularyError, match="flux_capacitor"):
        load_case(load_cases(d)[0])


def test_bad_datalists(tmp_path):
    with pytest.raises(VolumeError, match="no such"):
        load_cases(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(VolumeError, match="invalid datalist JSON"):
        load_cases(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text(json.dumps({"training": []}))
    with pytest.raises(VolumeError, match="non-empty"):
        load_cases(tmp_path / "empty.json")
    dl = {"training": [{"image": str(CT_CASE / "image.nii.gz"), "label": str(CT_CASE / "label.nii.gz"),
                        "labels": {"x": "liver"}}]}
    (tmp_path / "dl.json").write_text(json.dumps(dl))
    with pytest.raises(VolumeError, match="not an integer"):
        load_cases(tmp_path / "dl.json")


def test_image_read_errors(tmp_path):
    (tmp_path / "text.nii.gz").write_text("this is not an image " * 10)
    with pytest.raises(VolumeError, match="text.nii.gz"):
        read_image(tmp_path / "text.nii.gz")
    data = (CT_CASE / "image.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 3])
    with pytest.raises(VolumeError, match="cut.nii.gz"):
        read_image(tmp_path / "cut.nii.gz")
    arr = np.zeros((4, 5, 6), np.float32)
    arr[1, 1, 1] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "nan.nrrd"))
    with pytest.raises(VolumeError, match="NaN"):
        read_image(tmp_path / "nan.nrrd")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.float32)), str(tmp_path / "4d.nii.gz"))
    with pytest.raises(VolumeError, match="3D volume|single-channel"):
        read_image(tmp_path / "4d.nii.gz")
    with pytest.raises(VolumeError, match="no such"):
        read_image(tmp_path / "missing.nii.gz")


def test_modality_from_file_and_rule(ct_volume):
    assert ct_volume.modality == "CT"
    mr = read_image(SAMPLES / "totalseg_mr_abdomen" / "image.nii.gz")
    assert mr.modality == "MR"
    assert read_image(CT_CASE / "image.nii.gz", modality="mr").modality == "MR"


def test_modality_rule_counted_by_slab_matches_the_whole_volume_rule():
    # the rule as stated (whole volume at once), against the slab-by-slab count on volumes that straddle it
    rng = np.random.default_rng(0)
    for share in (0.03, 0.049, 0.051, 0.2):
        vol = rng.uniform(0, 1000, size=(37, 20, 20)).astype(np.float32)
        vol.flat[rng.choice(vol.size, int(share * vol.size), replace=False)] = -900
        vol[5, 0, :3] = np.nan
        finite = vol[np.isfinite(vol)]
        stated = "CT" if np.mean(finite < -500) >= 0.05 and finite.min() >= -3100 else "MR"
        assert guess_modality(vol) == stated
    assert guess_modality(np.full((3, 4, 4), np.nan, np.float32)) == "MR"
    floor = np.zeros((20, 4, 4), np.float32)
    floor[:5] = -3200  # below the HU floor: not CT
    assert guess_modality(floor) == "MR"


@pytest.mark.parametrize("top, dtype", [(13, np.uint8), (255, np.uint8), (300, np.int16), (40000, np.int32)])
def test_label_maps_are_read_in_the_narrowest_integer_type(tmp_path, top, dtype):
    lab = np.zeros((4, 5, 6), np.int32)
    lab[1, 2, 3], lab[2, 2, 2] = top, 1
    sitk.WriteImage(sitk.GetImageFromArray(lab), str(tmp_path / "label.nii.gz"))
    read = read_label(tmp_path / "label.nii.gz").array
    assert read.dtype == dtype
    np.testing.assert_array_equal(read, lab)


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_normalise_equals_monai_scaling_also_on_reoriented_views(modality):
    from monai.transforms import ScaleIntensityRange, ScaleIntensityRangePercentiles

    from medpclip.data.intensity import normalise

    a = np.random.default_rng(0).normal(0, 300, (37, 30, 40)).astype(np.float32)
    if modality == "CT":
        ref = ScaleIntensityRange(a_min=-160, a_max=240, b_min=0.0, b_max=1.0, clip=True)(a)
    else:
        ref = ScaleIntensityRangePercentiles(lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True)(a)
    ref = np.asarray(ref)
    np.testing.assert_allclose(normalise(a, modality, chunk=5), ref, atol=1e-6)
    view = a[::-1, :, ::-1].transpose(0, 2, 1)  # what a reorientation hands over: no copy, not contiguous
    out = normalise(view, modality, chunk=5)
    assert out.flags.c_contiguous and out.dtype == np.float32
    np.testing.assert_allclose(out, ref[::-1, :, ::-1].transpose(0, 2, 1), atol=1e-6)

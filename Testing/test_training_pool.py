"""The training pool's data pipeline: patient ids and the patient split, single-slice (2D) cases, display-scaled CT,
label maps on another axis order, SynthSeg-style synthesis. Tests on the repository's sample data always run;
those on ``shared/training`` (beside the repository) run where that folder exists."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medpclip.data.cases import load_case
from medpclip.data.datalist import CaseSpec, load_cases, load_cases_many
from medpclip.data.holdout import split_by_patient
from medpclip.data.intensity import ct_encoding, intensity_range, normalise
from medpclip.data.synth import (LabelMapCase, SynthParams, left_right_groups, load_label_map_case, load_label_map_cases,
                                 synthesize, synthesize_slices, synthetic_case)
from medpclip.data.volume import VolumeError, geometry_text, read_image, read_label

from conftest import CT_CASE, LIVER, SAMPLES

POOL = Path(__file__).resolve().parents[1].parent / "shared" / "training"
needs_pool = pytest.mark.skipif(not POOL.is_dir(), reason=f"training pool {POOL} not present")
BTCV_LIVER = 6


# ---------------------------------------------------------------- patient ids and the patient split

def _two_sequence_datalist(tmp_path: Path) -> Path:
    img, lab = str(CT_CASE / "image.nii.gz"), str(CT_CASE / "label.nii.gz")
    labels = json.loads((CT_CASE / "labels.json").read_text())
    items = [{"name": "p1_a", "image": img, "label": lab, "labels": labels, "patient": "P1", "sequence": "A"},
             {"name": "p1_b", "image": img, "label": lab, "labels": labels, "patient": "P1", "sequence": "B"},
             {"name": "p2", "image": img, "label": lab, "labels": labels, "patient": "P2"},
             {"name": "p3", "image": img, "label": lab, "labels": labels}]
    (tmp_path / "dl.json").write_text(json.dumps({"training": items}))
    return tmp_path / "dl.json"


def test_patient_and_meta_from_datalist_items(tmp_path):
    specs = load_cases(_two_sequence_datalist(tmp_path))
    assert [s.patient for s in specs] == ["P1", "P1", "P2", "p3"]  # default: the case name
    assert specs[0].meta["sequence"] == "A" and "image" not in specs[0].meta


def test_patient_and_meta_from_case_folders():
    spec = load_cases(CT_CASE)[0]
    assert spec.patient == "TotalSegmentator example_ct"  # its meta.json: the same patient as totalseg_ct_full
    mr = load_cases(CT_CASE.parent / "totalseg_mr_abdomen")[0]
    assert mr.patient == "totalseg_mr_abdomen"  # no patient in its meta.json: the folder name
    assert spec.meta == json.loads((CT_CASE / "meta.json").read_text())
    assert CaseSpec("x", Path("a"), Path("b"), {1: "liver"}).patient == "x"


def test_split_by_patient_keeps_a_patients_cases_together(tmp_path):
    specs = load_cases(_two_sequence_datalist(tmp_path))
    train, held = split_by_patient(specs, {"P1"})
    assert [s.name for s in held] == ["p1_a", "p1_b"] and [s.name for s in train] == ["p2", "p3"]
    with pytest.raises(VolumeError, match=r"\['P9'\].*known patient ids \(3\): P1, P2, p3"):
        split_by_patient(specs, {"P1", "P9"})


def test_several_roots_and_duplicate_names(tmp_path):
    specs = load_cases_many([CT_CASE, SAMPLES / "totalseg_mr_abdomen"])
    assert [s.name for s in specs] == ["totalseg_ct_abdomen", "totalseg_mr_abdomen"]
    assert [s.name for s in load_cases([CT_CASE])] == ["totalseg_ct_abdomen"]
    with pytest.raises(VolumeError, match="occurs twice"):
        load_cases_many([CT_CASE, CT_CASE])


@needs_pool
def test_pool_patient_split_keeps_flair_and_t1c_together():
    specs = load_cases_many([POOL, POOL / "btcv_2d"])
    by_name = {s.name: s for s in specs}
    for n in (3, 4, 5, 6):
        assert by_name[f"brats_pat000{n}_flair"].patient == by_name[f"brats_pat000{n}_t1c"].patient
    train, held = split_by_patient(specs, {by_name["brats_pat0003_flair"].patient, "BTCV_001", "BTCV_021"})
    assert {s.name for s in held if s.name.startswith("brats")} == {"brats_pat0003_flair", "brats_pat0003_t1c"}
    assert {s.patient for s in held} == {"brats_2013_pat0003_1", "BTCV_001", "BTCV_021"}
    assert {s.name for s in held if s.patient == "BTCV_001"} == {s.name for s in specs if s.name.startswith("ABD_001_")}
    assert not {s.patient for s in train} & {s.patient for s in held}
    assert len(train) + len(held) == len(specs)


# ---------------------------------------------------------------- label maps on another axis order

def _relabelled(arr_ijk: np.ndarray, affine: np.ndarray, perm: tuple[int, int, int], flips: tuple[bool, ...]):
    """The same voxels with the array axes permuted (new axis a = old axis perm[a]) and reversed, and the affine
    that keeps every voxel where it is (nibabel: arrays [i, j, k], RAS affine)."""
    data, aff = np.transpose(arr_ijk, perm), affine[:, list(perm) + [3]].copy()
    for a, f in enumerate(flips):
        if f:
            data = np.flip(data, axis=a)
            aff[:3, 3] += aff[:3, a] * (data.shape[a] - 1)
            aff[:3, a] *= -1
    return np.ascontiguousarray(data), aff


@pytest.mark.parametrize("perm,flips", [((0, 1, 2), (False, True, False)), ((2, 1, 0), (False, False, False)),
                                        ((1, 2, 0), (True, False, True)), ((2, 0, 1), (True, True, True))])
def test_label_on_permuted_flipped_grid_is_reindexed_exactly(tmp_path, caplog, perm, flips):
    image = read_image(CT_CASE / "image.nii.gz")
    reference = read_label(CT_CASE / "label.nii.gz", like=image).array
    src = nib.load(str(CT_CASE / "label.nii.gz"))
    data, aff = _relabelled(np.asarray(src.dataobj).astype(np.uint8), src.affine, perm, flips)
    nib.save(nib.Nifti1Image(data, aff), str(tmp_path / "label.nii.gz"))
    with caplog.at_level(logging.INFO, logger="medpclip.data.volume"):
        lab = read_label(tmp_path / "label.nii.gz", like=image)
    assert "re-indexed exactly" in caplog.text
    np.testing.assert_array_equal(lab.array, reference)
    assert lab.same_geometry(image)
    # the same answer as ITK's nearest-neighbour resampling onto the image grid
    moved = sitk.Resample(sitk.ReadImage(str(tmp_path / "label.nii.gz")), sitk.ReadImage(str(CT_CASE / "image.nii.gz")),
                          sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(moved), reference)


def test_label_within_a_tenth_of_a_voxel_is_accepted(tmp_path):
    image = read_image(CT_CASE / "image.nii.gz")
    src = nib.load(str(CT_CASE / "label.nii.gz"))
    aff = src.affine.copy()
    aff[:3, 3] += 0.05 * aff[:3, 0]  # 0.05 voxel along i: 0.15 mm, beyond the 0.01 mm header tolerance
    nib.save(nib.Nifti1Image(np.asarray(src.dataobj).astype(np.uint8), aff), str(tmp_path / "label.nii.gz"))
    np.testing.assert_array_equal(read_label(tmp_path / "label.nii.gz", like=image).array,
                                  read_label(CT_CASE / "label.nii.gz").array)


@pytest.mark.parametrize("change", ["half_voxel_shift", "spacing", "extent", "rotation"])
def test_label_on_another_grid_names_both_geometries(tmp_path, change):
    image = read_image(CT_CASE / "image.nii.gz")
    src = nib.load(str(CT_CASE / "label.nii.gz"))
    data, aff = np.asarray(src.dataobj).astype(np.uint8), src.affine.copy()
    if change == "half_voxel_shift":
        aff[:3, 3] += 0.5 * aff[:3, 2]
    elif change == "spacing":
        aff[:3, 0] *= 1.1
    elif change == "extent":
        data = data[:, :, :25]
    else:
        c, s = np.cos(0.2), np.sin(0.2)
        aff[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ aff[:3, :3]
    nib.save(nib.Nifti1Image(data, aff), str(tmp_path / "label.nii.gz"))
    label_geometry = read_label(tmp_path / "label.nii.gz")
    with pytest.raises(VolumeError, match="does not match its image") as err:
        read_label(tmp_path / "label.nii.gz", like=image)
    message = str(err.value)
    assert "\n" not in message
    assert geometry_text(label_geometry.shape_ijk, label_geometry.affine) in message
    assert geometry_text(image.shape_ijk, image.affine) in message
    assert "size (122, 101, 30), spacing (3, 3, 3) mm, origin RAS" in message and "direction (" in message


# ---------------------------------------------------------------- single-slice (2D) cases and CT encodings

def _one_slice_case(tmp_path: Path, transform=lambda a: a, meta: dict | None = None) -> Path:
    """A one-slice case cut from the sample CT (slice 15), intensities through ``transform``."""
    d = tmp_path / "one_slice"
    d.mkdir()
    for name in ("image", "label"):
        vol = sitk.ReadImage(str(CT_CASE / f"{name}.nii.gz"))[:, :, 15:16]
        if name == "image":
            arr = transform(sitk.GetArrayFromImage(vol).astype(np.float64))
            out = sitk.GetImageFromArray(arr.astype(np.uint8 if arr.max() <= 255 and arr.min() >= 0 else np.int16))
            out.CopyInformation(vol)
            vol = out
        sitk.WriteImage(vol, str(d / f"{name}.nii.gz"))
    shutil.copy(CT_CASE / "labels.json", d)
    (d / "meta.json").write_text(json.dumps(meta or {"modality": "CT", "body_part": "abdomen", "patient": "S1"}))
    return d


def test_single_slice_case_loads(tmp_path):
    case = load_case(load_cases(_one_slice_case(tmp_path))[0])
    assert case.canon_image.shape[0] == 1 and case.canon_label.shape == case.canon_image.shape
    assert np.all(np.isfinite(case.canon_spacing)) and np.all(case.canon_spacing > 0)
    assert case.spec.patient == "S1"
    hu = read_image(CT_CASE / "image.nii.gz").array[15]
    np.testing.assert_allclose(case.image.array[0], hu)


def test_display_scaled_ct_maps_by_255(tmp_path):
    lo, hi = -160.0, 240.0  # an 8-bit export of the abdomen window
    d = _one_slice_case(tmp_path, lambda a: np.round(np.clip((a - lo) / (hi - lo), 0, 1) * 255))
    case = load_case(load_cases(d)[0])
    assert ct_encoding(case.image.array) == "display"
    assert intensity_range(case.image.array, "CT", "lung") == (0.0, 255.0)  # the source windowed it: no preset
    hu = normalise(read_image(CT_CASE / "image.nii.gz").array[15:16], "CT")
    np.testing.assert_allclose(np.sort(case.canon_image.ravel()), np.sort(hu.ravel()), atol=0.5 / 255 + 1e-6)
    liver = case.canon_image[case.canon_label == LIVER]
    assert 0.2 < np.median(liver) < 0.8


def test_ct_encodings():
    hu = read_image(CT_CASE / "image.nii.gz").array
    assert ct_encoding(hu) == "hu"
    stored = np.clip(hu, -1024, None) + 1024  # 0..2231: stored unsigned without a rescale in the header
    assert stored.min() >= 0 and ct_encoding(stored) == "offset"
    np.testing.assert_allclose(normalise(stored, "CT"), normalise(np.clip(hu, -1024, None), "CT"), atol=1e-6)
    assert ct_encoding(np.full((4, 4, 4), 1100.0)) == "hu"  # min >= 0, max > 255, no air: HU (a bone crop)
    assert ct_encoding(np.arange(8.0).reshape(2, 2, 2) * 30) == "display"
    assert ct_encoding(np.zeros((2, 2, 2))) == "hu"  # blank: the window preset as before
    assert ct_encoding(hu, note="display-scaled 0..255 (not Hounsfield units)") == "display"
    with pytest.raises(ValueError, match="unknown CT encoding"):
        intensity_range(hu, "CT", encoding="kelvin")


def test_mr_percentiles_ignore_a_masked_background():
    rng = np.random.default_rng(0)
    brain = rng.normal(0, 1, (10, 30, 30)).astype(np.float32)  # z-scored, negative values normal
    vol = np.full((50, 30, 30), -3.5, np.float32)                 # 80% constant background (the minimum)
    vol[20:30] = np.clip(brain, -3.0, None)
    lo, hi = intensity_range(vol, "MR")
    np.testing.assert_allclose((lo, hi), np.percentile(vol[20:30], (0.5, 99.5)), rtol=1e-5)
    out = normalise(vol, "MR")
    assert out[:20].max() == 0.0 and np.mean(out[20:30] >= 1.0) <= 0.006


# ---------------------------------------------------------------- the training pool's own cases

@needs_pool
def test_btcv_2d_case_is_display_scaled_and_not_saturated():
    spec = load_cases(POOL / "btcv_2d" / "ABD_001_100")[0]
    case = load_case(spec)
    assert spec.patient == "BTCV_001" and case.modality == "CT"
    assert case.canon_image.shape == (1, 512, 512) and case.canon_image.min() >= 0 and case.canon_image.max() <= 1
    np.testing.assert_allclose(case.canon_image.max(), case.image.array.max() / 255.0, rtol=1e-6)
    liver = case.canon_image[case.canon_label == BTCV_LIVER]
    assert liver.size > 1000 and 0.2 < np.median(liver) < 0.8
    assert np.mean(case.canon_image >= 1.0) < 0.01


@needs_pool
def test_brats_z_scored_mr_background_zero_tumour_not_saturated():
    case = load_case(load_cases(POOL / "brats_pat0003_t1c")[0])
    background = case.image.array == case.image.array.min()
    assert background.mean() > 0.5
    assert np.count_nonzero(case.canon_image == 0) >= background.sum()  # the background maps to 0
    enhancing = case.canon_image[case.canon_label == 4]
    assert np.mean(enhancing >= 1.0) < 0.2 and 0.5 < np.median(enhancing) < 0.95


@needs_pool
def test_every_pool_case_loads_quickly():
    specs = load_cases_many([POOL, POOL / "btcv_2d"])
    assert len(specs) >= 150
    start = time.perf_counter()
    for spec in specs:
        case = load_case(spec)
        img = case.canon_image
        assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1 and img.max() > img.min(), spec.name
        assert case.canon_label.shape == img.shape and case.concepts, spec.name
        assert np.all(case.canon_spacing > 0), spec.name
    elapsed = time.perf_counter() - start
    logging.getLogger(__name__).info("loaded %d pool cases in %.1f s", len(specs), elapsed)
    assert elapsed < 60, f"loading the training pool took {elapsed:.0f} s"


# ---------------------------------------------------------------- SynthSeg-style synthesis

def _phantom() -> np.ndarray:
    lab = np.zeros((24, 40, 40), np.int32)
    lab[4:20, 5:20, 5:35] = 2
    lab[4:20, 20:35, 5:35] = 41
    lab[8:16, 12:28, 15:25] = 530  # an unnamed tissue class: intensity only
    return lab


def test_synthesize_shape_range_and_label_contrast():
    lab = _phantom()
    means = []
    for seed in range(5):
        img = synthesize(lab, np.array([1.0, 1.0, 2.0]), np.random.default_rng(seed))
        assert img.shape == lab.shape and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 1.0 and img.max() - img.min() > 0.5
        core = np.zeros_like(lab, bool)
        core[6:18, 7:18, 7:33] = True  # away from edges: blur does not mix the labels here
        m2, m41 = img[core & (lab == 2)].mean(), img[(lab == 41) & np.roll(core, 15, axis=1)].mean()
        assert abs(m2 - m41) > 0.02, seed
        means.append(m2 - m41)
    assert min(means) < 0 < max(means)  # the contrast is random, not fixed
    again = synthesize(lab, np.array([1.0, 1.0, 2.0]), np.random.default_rng(0))
    np.testing.assert_array_equal(again, synthesize(lab, np.array([1.0, 1.0, 2.0]), np.random.default_rng(0)))


def test_synthesize_groups_share_an_intensity_and_slices_match_the_volume_shape():
    lab = _phantom()
    assert left_right_groups({2: "left cerebral white matter", 41: "right cerebral white matter",
                              17: "left hippocampus"}) == [(2, 41)]
    plain = SynthParams(bias_std=(0.0, 0.0), blur_mm=(0.0, 0.0), thick_prob=0.0, noise_std=(0.0, 0.0))
    for seed in range(3):
        img = synthesize(lab, np.ones(3), np.random.default_rng(seed), plain, groups=[(2, 41)])
        assert abs(img[lab == 2].mean() - img[lab == 41].mean()) < 0.02
        img = synthesize(lab, np.ones(3), np.random.default_rng(seed), plain)
        assert abs(img[lab == 2].mean() - img[lab == 41].mean()) > 0.02
    sl = synthesize_slices(lab, np.ones(3), np.random.default_rng(0), "coronal", [10, 30])
    assert sl.shape == (2, 24, 40) and sl.min() >= 0 and sl.max() <= 1
    with pytest.raises(VolumeError, match="outside"):
        synthesize_slices(lab, np.ones(3), np.random.default_rng(0), "axial", [24])
    with pytest.raises(VolumeError, match="non-negative integers"):
        synthesize(lab.astype(np.float32), np.ones(3), np.random.default_rng(0))


def test_label_map_case_from_a_file(tmp_path):
    lab = _phantom()
    img = sitk.GetImageFromArray(lab.astype(np.int16))
    img.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(img, str(tmp_path / "seg_01.nii.gz"))
    (tmp_path / "labels.json").write_text(json.dumps({"2": "left cerebral white matter",
                                                      "41": "right cerebral white matter"}))
    lm = load_label_map_case(tmp_path)  # a folder with one map
    assert isinstance(lm, LabelMapCase) and lm.names == {2: "left cerebral white matter", 41: "right cerebral white matter"}
    assert lm.tissue_values == [530] and lm.groups == [(2, 41)] and lm.patient == "seg_01"
    assert sorted(lm.canon_spacing) == [1.0, 1.0, 2.0] and lm.canon_label.shape == lab.shape
    tight = load_label_map_case(tmp_path / "seg_01.nii.gz", crop_margin=1)  # foreground box + 1 voxel
    assert tight.canon_label.shape == (18, 32, 32)
    np.testing.assert_allclose(tight.canon_affine @ [0, 0, 0, 1], lm.canon_affine @ [4, 4, 3, 1])
    np.testing.assert_array_equal(tight.canon_label, lm.canon_label[3:21, 4:36, 4:36])
    case = synthetic_case(lm, np.random.default_rng(0))
    assert set(np.unique(case.canon_label)) == {0, 2, 41}  # the tissue class is never a target
    assert case.canon_image.shape == case.canon_label.shape and set(case.concepts) == {2, 41}
    sitk.WriteImage(img, str(tmp_path / "seg_02.nii.gz"))
    assert [m.name for m in load_label_map_cases(tmp_path)] == ["seg_01", "seg_02"]


@needs_pool
def test_synthseg_label_maps():
    folder = POOL / "synthseg_label_maps"
    lm = load_label_map_case(folder / "training_seg_01.nii.gz")
    assert len(lm.names) == 32 and lm.tissue_values and not set(lm.tissue_values) & set(lm.names)
    assert np.allclose(lm.canon_spacing, 1.0) and max(lm.canon_label.shape) <= 256
    start = time.perf_counter()
    img = synthesize(lm.canon_label, lm.canon_spacing, np.random.default_rng(0), groups=lm.groups)
    assert time.perf_counter() - start < 20
    assert img.shape == lm.canon_label.shape and 0 <= img.min() and img.max() <= 1
    wm = np.median(img[lm.canon_label == 2])
    csf = np.median(img[lm.canon_label == 4])  # left lateral ventricle
    assert abs(wm - csf) > 0.01
    with pytest.raises(VolumeError, match="holds 20 label map files"):
        load_label_map_case(folder)

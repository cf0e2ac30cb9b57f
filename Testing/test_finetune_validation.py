"""The fine-tune's check before it serves new weights (``evaluation.validation``): which labelled images are held
back (whole patients where the datastore says whose each image is), and the rule that decides. The whole path (a
real MONAI Label server training, validating and keeping or publishing) is in test_monailabel_server.py."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import write_dicom_series
from medpclip.evaluation.validation import Score, decide, hold_back, split_unit


def test_a_fifth_of_the_images_is_held_back_at_least_one_and_the_split_is_seeded():
    names = [f"img{n:02d}" for n in range(10)]
    train, val = hold_back(names, seed=0)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == names
    assert hold_back(list(reversed(names)), seed=0) == (train, val)       # the order given does not matter
    assert any(hold_back(names, seed=s)[1] != val for s in range(1, 6))  # the seed chooses
    train, val = hold_back(["a", "b"], seed=3)
    assert len(train) == len(val) == 1 and set(train + val) == {"a", "b"}


def test_a_single_image_is_trained_and_validated_on():
    assert hold_back(["only"]) == (["only"], ["only"])
    assert hold_back([]) == ([], [])


PATIENTS = {"img00": "P0", "img01": "P0", "img02": "P0", "img03": "P0", "img04": "P1", "img05": "P1",
            "img06": "P2", "img07": "P2", "img08": "P3", "img09": "P4"}


@pytest.mark.parametrize("seed", range(12))
def test_with_patient_ids_whole_patients_are_held_back(seed):
    names = sorted(PATIENTS)
    train, val = hold_back(names, seed=seed, patients=PATIENTS)
    assert sorted(train + val) == names and val and len(val) <= len(names) // 2
    assert not {PATIENTS[n] for n in train} & {PATIENTS[n] for n in val}     # no patient on both sides
    assert split_unit(train, val, PATIENTS) == "patient"
    assert hold_back(list(reversed(names)), seed=seed, patients=PATIENTS) == (train, val)


def test_the_patient_of_most_images_trains():
    patients = {f"a{n}": "A" for n in range(8)} | {"b0": "B", "c0": "C"}
    for seed in range(10):
        train, val = hold_back(list(patients), seed=seed, patients=patients)
        assert set(val) <= {"b0", "c0"} and val and all(n.startswith("a") for n in train if n not in ("b0", "c0"))


def test_images_of_one_patient_are_split_by_image_and_the_split_says_so():
    patients = {f"img{n}": "P0" for n in range(5)}
    train, val = hold_back(list(patients), seed=0, patients=patients)
    assert len(val) == 1 and len(train) == 4
    assert split_unit(train, val, patients) == "image"


def test_the_split_unit_is_patient_only_when_every_held_back_image_has_a_patient_id_not_trained_on():
    assert split_unit(["a"], ["b"], {"a": "P0", "b": "P1"}) == "patient"
    assert split_unit(["a"], ["b"], {"a": "P0"}) == "image"                  # b's patient unknown
    assert split_unit(["a"], ["b"], {"a": "P0", "b": "P0"}) == "image"       # same patient
    assert split_unit(["a"], ["b"], None) == "image"
    assert split_unit(["a"], ["a"], {"a": "P0"}) == "in_sample"


def test_an_image_without_a_patient_id_is_a_patient_of_its_own():
    patients = {"a0": "A", "a1": "A", "a2": "A"}
    names = ["a0", "a1", "a2", "x", "y"]
    for seed in range(10):
        train, val = hold_back(names, seed=seed, patients=patients)
        assert not ({"a0", "a1", "a2"} & set(train) and {"a0", "a1", "a2"} & set(val))


def test_the_patient_of_an_image_comes_from_its_upload_params_or_its_dicom_header(tmp_path):
    from medpclip.monailabel.tasks.train import image_patient

    assert image_patient({"patient": " P7 "}, []) == "P7"
    assert image_patient({"patient_id": 12}, []) == "12"
    assert image_patient({"PatientID": "X", "patient": "Y"}, []) == "Y"      # the documented key first
    assert image_patient({"patient": True, "ts": 3}, []) is None            # not an id
    assert image_patient({"patient": "  "}, []) is None
    image = sitk.GetImageFromArray(np.zeros((3, 8, 8), np.int16))
    sitk.WriteImage(image, str(tmp_path / "tiny.nii.gz"))
    write_dicom_series(tmp_path / "tiny.nii.gz", tmp_path / "series")
    files = sorted(str(f) for f in (tmp_path / "series").iterdir())
    assert image_patient({}, files) == "TS001"                               # helpers.write_dicom_series' id
    assert image_patient({"patient": "P1"}, files) == "P1"
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    assert image_patient({}, [str(tmp_path / "junk.dcm")]) is None


def test_the_finetune_datalist_holds_back_whole_patients_of_a_real_datastore(tmp_path):
    """Five labelled CT images in a real (MONAI Label local) datastore, three of patient A uploaded with
    ``params {"patient": ...}``: the validation list never shares a patient with the training list, and the
    report and the datalists say whose each image is."""
    from medpclip.monailabel.datastore import AtomicLocalDatastore
    from medpclip.monailabel.tasks.train import build_datalist

    studies, work = tmp_path / "studies", tmp_path / "work"
    studies.mkdir()
    work.mkdir()
    store = AtomicLocalDatastore(str(studies), extensions=["*.nii.gz"], auto_reload=False)
    array = np.full((6, 24, 24), -100, np.int16)
    label = np.zeros((6, 24, 24), np.uint8)
    array[1:5, 6:18, 6:18] = 60
    label[1:5, 6:18, 6:18] = 1
    lab_path = tmp_path / "label.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(label), str(lab_path))
    owners = {"ct_a1": "A", "ct_a2": "A", "ct_a3": "A", "ct_b": "B", "ct_c": "C"}
    for name, patient in owners.items():
        src = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(array), str(src))
        store.add_image(name, str(src), {"patient": patient})
        store.save_label(name, str(lab_path), "final", {"label_info": [{"name": "liver", "idx": 1}]})
    for seed in range(4):
        train_path, val_path, report, unit = build_datalist(store, work, seed=seed)
        train = json.loads(train_path.read_text())["training"]
        val = json.loads(val_path.read_text())["training"]
        assert unit == "patient" and val and train
        assert {it["patient"] for it in train}.isdisjoint({it["patient"] for it in val})
        assert all(owners[it["name"]] == it["patient"] for it in train + val)
        assert {r["image"]: r["patient"] for r in report} == owners
        roles = {r["image"]: r["role"] for r in report}
        assert {roles[n] for n in ("ct_a1", "ct_a2", "ct_a3")} in ({"train"}, {"validation"})


@pytest.mark.parametrize("new, serve", [((0.60, 0.80, 0.90), True),    # same score: no worse, served
                                        ((0.70, 0.80, 0.90), True),    # better clicks
                                        ((0.60, 0.80, 0.80), False),   # naming worse, nothing better
                                        ((0.65, 0.80, 0.80), False)])  # a small click gain does not buy naming back
def test_new_weights_are_served_only_when_their_score_is_not_lower(new, serve):
    served = Score(12, 0.60, 0.80, 0.90)
    ok, reason = decide(served, Score(12, *new))
    assert ok is serve
    assert (">=" if serve else "<") in reason and "naming Top-1" in reason and f"{new[0]:.3f} vs 0.600" in reason


def test_a_score_is_the_mean_of_its_three_figures():
    score = Score(3, 0.5, 0.7, 0.9)
    assert score.score == pytest.approx(0.7)
    assert score.as_dict() == {"items": 3, "dice1": 0.5, "dice3": 0.7, "top1": 0.9, "score": 0.7}


def test_held_back_images_with_nothing_to_score_are_a_clear_error(tmp_path):
    """A held-back image whose labelled structures are all under the protocol's 20 pixels a slice cannot check new
    weights; the trainer then keeps the served ones (test_monailabel_server.py checks the trainer's side)."""
    import json

    import nibabel as nib
    import numpy as np

    from medpclip.data.datalist import load_cases
    from medpclip.evaluation.validation import NothingToValidate, score_checkpoints
    from medpclip.model.checkpoint import default_checkpoint_path

    case = tmp_path / "tiny_label"
    case.mkdir()
    image = np.random.default_rng(0).normal(40, 10, (64, 64, 4)).astype(np.float32)
    label = np.zeros(image.shape, np.uint8)
    label[30:33, 30:33, 2] = 1                                # 9 pixels
    nib.save(nib.Nifti1Image(image, np.diag([1.0, 1.0, 3.0, 1.0])), case / "image.nii.gz")
    nib.save(nib.Nifti1Image(label, np.diag([1.0, 1.0, 3.0, 1.0])), case / "label.nii.gz")
    (case / "labels.json").write_text(json.dumps({"1": "liver"}))
    with pytest.raises(NothingToValidate, match="no labelled structure of at least 20 pixels"):
        score_checkpoints([default_checkpoint_path()], load_cases(case), threads=1)


def test_the_check_scores_each_region_alone_without_the_named_together_pass(tmp_path, monkeypatch):
    """The check's score uses naming by mask alone; the benchmark's extra pass (each slice's regions named at once)
    would only cost time, so it must not run. Two synthetic discs on a real NIfTI pair, scored with the default."""
    import json

    import nibabel as nib
    import numpy as np

    import medpclip.evaluation.runners as runners
    from medpclip.data.datalist import load_cases
    from medpclip.evaluation.validation import score_checkpoints
    from medpclip.model.checkpoint import default_checkpoint_path

    def named_together(*_args, **_kwargs):
        raise AssertionError("the fine-tune check ran the named-together pass")

    monkeypatch.setattr(runners, "named_together", named_together)
    case = tmp_path / "discs"
    case.mkdir()
    yy, xx = np.mgrid[:96, :96]
    label = np.zeros((96, 96, 3), np.uint8)
    label[..., 1][(yy - 30) ** 2 + (xx - 30) ** 2 < 100] = 1
    label[..., 1][(yy - 65) ** 2 + (xx - 60) ** 2 < 150] = 2
    image = np.where(label == 1, 60.0, np.where(label == 2, 150.0, 0.0)).astype(np.float32)
    image += np.random.default_rng(0).normal(0, 3, image.shape).astype(np.float32)
    nib.save(nib.Nifti1Image(image, np.diag([1.0, 1.0, 3.0, 1.0])), case / "image.nii.gz")
    nib.save(nib.Nifti1Image(label, np.diag([1.0, 1.0, 3.0, 1.0])), case / "label.nii.gz")
    (case / "labels.json").write_text(json.dumps({"1": "liver", "2": "spleen"}))
    (score,) = score_checkpoints([default_checkpoint_path()], load_cases(case), threads=1)
    assert score.items == 2
    assert 0.0 <= score.dice1 <= 1.0 and 0.0 <= score.top1 <= 1.0

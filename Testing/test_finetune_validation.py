"""The fine-tune's check before it serves new weights (``evaluation.validation``): which labelled images are held
back, and the rule that decides. The whole path (a real MONAI Label server training, validating and keeping or
publishing) is in test_monailabel_server.py."""

import pytest

from medpclip.evaluation.validation import Score, decide, hold_back


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

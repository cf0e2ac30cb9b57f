"""A click's other answers (the prompt key ``alternative``): one click is ambiguous (an organ or a part of it, a
tumour or its core), the decoder answers it with several masks (SAM's multimask outputs), and a user can step
through them. Engine, CLI and the benchmark's summary here; the MONAI Label server and the Slicer panel in their
own test files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medpclip.data.geometry import extract_slice
from medpclip.errors import PromptError

from conftest import CT_CASE, deepest_click
from test_cli import ok_json, one_line_error, run

SPLEEN = 1


@pytest.fixture(scope="module")
def session(engine, ct_volume):
    return engine.open(ct_volume)


@pytest.fixture(scope="module")
def spleen_click(ct_reference) -> list[float]:
    return deepest_click(ct_reference, SPLEEN)


def test_the_answer_index_steps_down_the_ranking(engine):
    model = engine.model
    iou = torch.tensor([0.9, 0.2, 0.7, 0.5])  # output 0 is the single-mask output: never a click's answer
    assert [model.answer_index(iou, True, rank=r) for r in range(3)] == [2, 3, 1]
    choice = torch.tensor([0.1, 0.3, 0.2])    # the click choice head's scores of outputs 1..3 rank instead
    assert [model.answer_index(iou, True, choice, rank=r) for r in range(3)] == [2, 3, 1]
    assert model.answer_index(iou, False, rank=2) == 0  # not a single click: the rank does not apply


def test_a_clicks_answers_in_turn(session, spleen_click):
    """Answer 0 is the engine's own pick, to the bit; the others are other masks; each says which it is and how
    many there are; a correction click after an other answer continues that answer."""
    default = session.segment({"points": [spleen_click]})
    answers = [session.segment({"points": [spleen_click], "alternative": a}) for a in range(3)]
    assert np.array_equal(answers[0].mask, default.mask)
    assert [(r.summary()["alternative"], r.summary()["alternatives"]) for r in answers] == [(0, 3), (1, 3), (2, 3)]
    assert default.summary()["alternative"] == 0
    assert len({r.mask.tobytes() for r in answers}) == 3, "the three answers to the spleen click differ"
    k = answers[2].slices[0]  # the canonical slice: the engine's feedback is kept per canonical slice
    history = session._history[("axial", k)]  # what a correction click continues
    canon = session.orient.array_to_canonical(answers[2].mask)
    assert np.array_equal(history.mask, extract_slice(canon, "axial", k) > 0)
    corrected = session.segment({"points": [spleen_click, [spleen_click[0] + 4, spleen_click[1], spleen_click[2]]],
                                 "point_labels": [1, 1]})
    assert "alternative" not in corrected.summary()  # two clicks: no other answers


def test_an_other_answer_propagates_in_3d(session, spleen_click):
    flat = session.segment({"points": [spleen_click], "alternative": 1})
    deep = session.segment({"points": [spleen_click], "alternative": 1, "mode": "3d"})
    assert deep.summary()["alternative"] == 1 and len(deep.slices) > 1
    k = flat.slices[0]
    on_slice = [extract_slice(session.orient.array_to_canonical(r.mask), "axial", k) for r in (flat, deep)]
    assert on_slice[0].any() and np.array_equal(*on_slice)


@pytest.mark.parametrize("extra, match", [
    ({"points": [[40, 50, 10], [45, 50, 10]], "point_labels": [1, 1], "alternative": 1}, "one positive click alone"),
    ({"points": [[40, 50, 10], [45, 50, 10]], "point_labels": [1, 0], "alternative": 2}, "one positive click alone"),
    ({"box": [30, 40, 10, 60, 70, 10], "alternative": 1}, "one positive click alone"),
    ({"points": [[40, 50, 10]], "box": [30, 40, 10, 60, 70, 10], "alternative": 1}, "one positive click alone"),
    ({"points": [[40, 50, 10]], "alternative": 3}, r"this model gives a click 3 answers \(0\.\.2\)"),
    ({"points": [[40, 50, 10]], "alternative": -1}, "whole number >= 0"),
    ({"points": [[40, 50, 10]], "alternative": 1.5}, "whole number >= 0"),
    ({"points": [[40, 50, 10]], "alternative": float("nan")}, "whole number >= 0"),
    ({"points": [[40, 50, 10]], "alternative": float("inf")}, "whole number >= 0"),
    ({"points": [[40, 50, 10]], "alternative": True}, "whole number >= 0"),
    ({"points": [[40, 50, 10]], "alternative": "next"}, "whole number >= 0"),
])
def test_bad_alternatives_are_clear_errors(session, extra, match):
    with pytest.raises(PromptError, match=match):
        session.segment(extra)


def test_an_other_answer_with_a_prior_mask_or_strokes_is_a_clear_error(session, spleen_click):
    k = int(spleen_click[2])
    painted = np.zeros(session.volume.array.shape, np.uint8)
    painted[k, int(spleen_click[1]), int(spleen_click[0])] = 1
    with pytest.raises(PromptError, match="mask prior or strokes"):
        session.segment({"points": [spleen_click], "alternative": 1}, prior_mask=painted)
    with pytest.raises(PromptError, match="mask prior or strokes"):
        session.segment({"points": [spleen_click], "alternative": 1}, scribbles=painted)
    assert session.segment({"points": [spleen_click], "alternative": "1"}).summary()["alternative"] == 1  # as text


def test_cli_other_answer_and_its_bad_values(tmp_path, spleen_click):
    ijk = ",".join(str(int(v)) for v in spleen_click)
    image = CT_CASE / "image.nii.gz"
    summary = ok_json(run("segment", image, "--point", ijk, "--alternative", "1", "--out", tmp_path / "a.nii.gz",
                          "--json"))
    assert (summary["alternative"], summary["alternatives"]) == (1, 3) and summary["voxels"] > 0
    one_line_error(run("segment", image, "--point", ijk, "--alternative", "7", "--out", tmp_path / "b.nii.gz"),
                   "alternative 7: this model gives a click 3 answers (0..2)")
    one_line_error(run("segment", image, "--point", ijk, "--point", ijk, "--alternative", "1",
                       "--out", tmp_path / "c.nii.gz"), "one positive click alone")
    assert not (tmp_path / "b.nii.gz").exists() and not (tmp_path / "c.nii.gz").exists()


def test_the_benchmark_summary_reads_the_best_of_the_first_k_answers():
    from medpclip.evaluation.summaries import summarise_2d

    trials = [{"dice": [0.2, 0.5], "iou": [0.1, 0.4], "noc85": 20, "noc90": 20, "answers_dice": [0.2, 0.8, 0.1]},
              {"dice": [0.6, 0.7], "iou": [0.5, 0.6], "noc85": 20, "noc90": 20, "answers_dice": [0.6, 0.3, 0.9]},
              {"dice": [0.4, 0.7], "iou": [0.3, 0.6], "noc85": 20, "noc90": 20}]  # a box trial has none
    out = summarise_2d(trials, 2)
    assert out["best_of_2_answers"] == pytest.approx((0.8 + 0.6) / 2)
    assert out["best_of_3_answers"] == pytest.approx((0.8 + 0.9) / 2)
    assert "best_of_2_answers" not in summarise_2d(trials[2:], 2)

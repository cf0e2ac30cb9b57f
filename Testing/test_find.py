"""Find by text says when nothing matches (issue 13): a brain term on the abdominal sample CT is "not found",
an abdominal organ is found; the CLI exits 1 and writes nothing for "not found"."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import CT_CASE


@pytest.fixture(scope="module")
def ct_session(engine, ct_image_path):
    return engine.open(ct_image_path)


@pytest.mark.parametrize("text", ["brain", "left thalamus", "lung"])
def test_terms_of_another_body_region_are_not_found(ct_session, text):
    res = ct_session.find(text, mode="2d")
    assert res.found["found"] is False and res.found["rank"] > 4
    assert res.voxels == 0 and res.slices == []
    assert any(w.startswith("not found") for w in res.warnings)
    assert res.summary()["found"] == res.found


def test_cli_find_not_found_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "brain.nii.gz"
    p = subprocess.run([sys.executable, "-m", "medpclip.cli", "find", str(CT_CASE / "image.nii.gz"), "--text", "brain",
                        "--mode", "2d", "--out", str(out), "--json"], capture_output=True, text=True, encoding="utf-8",
                       timeout=300)
    assert p.returncode == 1, p.stderr
    summary = json.loads(p.stdout)
    assert summary["output"] is None and summary["found"]["found"] is False
    assert "not found" in p.stderr and not out.exists()


# -- what find returns on the sample CT and MR (issue 13's find target) --------------------------------------------

SAMPLE_FIND_TERMS = ["liver", "spleen", "left kidney", "aorta"]


@pytest.fixture(scope="module")
def sample_cases():
    from medpclip.data.cases import load_case
    from medpclip.evaluation.items import load_specs

    from conftest import SAMPLES

    specs = load_specs([str(SAMPLES / "totalseg_ct_abdomen"), str(SAMPLES / "totalseg_mr_abdomen")], walk=True)
    return [load_case(spec, strict_names=False) for spec in specs]


@pytest.fixture(scope="module")
def sample_finds(engine, sample_cases):
    """(case, text) -> (3D Dice of the region found for the text against the reference structure, the result)."""
    from medpclip.data.masks import dice
    from medpclip.data.vocabulary import resolve

    out = {}
    for case in sample_cases:
        session = engine.open(case.image)
        values = {c.id: v for v, c in case.concepts.items()}
        for text in SAMPLE_FIND_TERMS:
            res = session.find(text, mode="3d")
            out[case.spec.name, text] = (float(dice(res.mask > 0, case.label.array == values[resolve(text).id])), res)
        session.close()
    print("find 3D Dice on the sample CT / MR:", {f"{c}/{t}": round(d, 3) for (c, t), (d, _) in out.items()})
    return out


@pytest.fixture(scope="module")
def sample_find_dice(sample_finds):
    return {key: d for key, (d, _) in sample_finds.items()}


@pytest.mark.parametrize("text", SAMPLE_FIND_TERMS)
@pytest.mark.parametrize("case", ["totalseg_ct_abdomen", "totalseg_mr_abdomen"])
def test_an_abdominal_organ_is_found_on_the_abdominal_sample_ct_and_mr(sample_finds, case, text):
    res = sample_finds[case, text][1]
    assert res.found["found"] is True and res.voxels > 0
    assert not any(w.startswith("not found") for w in res.warnings)


@pytest.mark.parametrize("text", ["liver", "spleen", "left kidney"])
@pytest.mark.parametrize("case", ["totalseg_ct_abdomen", "totalseg_mr_abdomen"])
def test_find_segments_the_organ_on_the_sample_ct_and_mr(sample_find_dice, case, text):
    assert sample_find_dice[case, text] >= 0.5


@pytest.mark.parametrize("case, least", [("totalseg_ct_abdomen", 0.45), ("totalseg_mr_abdomen", 0.5)])
def test_find_aorta_lands_on_the_aorta(sample_find_dice, case, least):
    # the target is 0.5 in 3D: the MR reaches 0.70, the 3 mm sample CT 0.50, just at it (its propagation along the
    # aorta still drifts near the diaphragm, docs/RESULTS.md), so there the test leaves a margin
    assert sample_find_dice[case, "aorta"] >= least


def test_find_propagates_in_views_around_the_found_region(engine, sample_cases, monkeypatch):
    """The found region is carried through the volume in object views (policy.FIND_PROPAGATION_OBJECT_VIEW): in
    the body's context view the aorta of the sample CT is about 4 low-resolution pixels across and the
    propagation drifts off it after about 10 slices (3D Dice 0.29 against 0.50)."""
    import medpclip.engine.policy as policy
    from medpclip.data.masks import dice
    from medpclip.data.vocabulary import resolve

    case = next(c for c in sample_cases if c.spec.name == "totalseg_ct_abdomen")
    aorta = case.label.array == {c.id: v for v, c in case.concepts.items()}[resolve("aorta").id]
    session = engine.open(case.image)
    monkeypatch.setattr(policy, "FIND_PROPAGATION_OBJECT_VIEW", False)
    in_context_view = dice(session.find("aorta", mode="3d").mask > 0, aorta)
    session.close()
    assert in_context_view < 0.4, in_context_view


def test_the_local_search_puts_the_click_on_a_small_structure(engine, sample_cases, monkeypatch):
    """The coarse grid's points lie about 10 px apart on the sample MR, wider than its aorta (about 6 px across):
    without the finer grid over the best answer, the click lands beside the aorta and the answer takes the
    vertebra with it (3D Dice 0.41, short of the 0.5 target); with it, 0.70."""
    import medpclip.engine.policy as policy
    from medpclip.data.masks import dice
    from medpclip.data.vocabulary import resolve

    case = next(c for c in sample_cases if c.spec.name == "totalseg_mr_abdomen")
    aorta = case.label.array == {c.id: v for v, c in case.concepts.items()}[resolve("aorta").id]
    session = engine.open(case.image)
    monkeypatch.setattr(policy, "FIND_LOCAL_GRID_POINTS", 0)
    without = dice(session.find("aorta", mode="3d").mask > 0, aorta)
    session.close()
    assert without < 0.5, without


# -- the scoring and the verdict ---------------------------------------------------------------------------------

def test_target_scores_prefer_the_region_the_text_names(engine):
    from medpclip.engine.recognition import target_scores

    target = engine.text_embedding("spleen", "CT").float()
    other = engine.text_embedding("brain", "CT").float()
    scores = target_scores(engine, torch.stack([target, other]), target, "spleen")
    assert scores.shape == (2,) and scores[0] > scores[1] and bool((scores <= 0).all())


def test_the_verdict_needs_the_probability_floor(engine, monkeypatch):
    from medpclip.engine import policy
    from medpclip.engine.recognition import match_verdict

    target = engine.text_embedding("spleen", "CT").float()
    # a region halfway between spleen and liver: spleen ranks high but is far from certain
    region = torch.nn.functional.normalize(target + engine.text_embedding("liver", "CT").float(), dim=0)
    verdict = match_verdict(engine, region, target, "spleen")
    assert verdict["rank"] <= policy.FIND_MAX_RANK
    monkeypatch.setattr(policy, "FIND_MIN_PROBABILITY", min(1.0, verdict["probability"] + 0.01))
    assert match_verdict(engine, region, target, "spleen")["found"] is False
    monkeypatch.setattr(policy, "FIND_MIN_PROBABILITY", verdict["probability"])
    assert match_verdict(engine, region, target, "spleen")["found"] is True


def test_grid_answers_leave_the_views_padding_empty(engine, ct_image_path):
    from medpclip.engine.recognition import _answers_in_model_grid
    from medpclip.model.medpclip import Prompts

    session = engine.open(ct_image_path)
    window = session.context_window("axial")
    grid = session.grid("axial", window)
    assert grid.h < grid.size or grid.w < grid.size  # the sample CT's body box is not square
    feats = session.features("axial", [10])[0]
    xy = torch.tensor(grid.to_model_xy(np.array([[(window[0] + window[2]) / 2, (window[1] + window[3]) / 2]])),
                      dtype=torch.float32)
    with torch.inference_mode():
        out = session.model.prompted(feats, Prompts(xy[:, None], torch.ones(1, 1, dtype=torch.long)))
    masks = _answers_in_model_grid(session.model, out, grid)
    assert masks.shape == (1, 1, grid.size, grid.size) and masks.any()
    assert not masks[..., grid.h:, :].any() and not masks[..., :, grid.w:].any()
    session.close()


def test_grid_points_past_the_slice_edge_are_not_foreground():
    """A context view can reach past the slice (the brain and breast samples' views start at negative pixels): such
    grid points are left out, neither read past the end (an IndexError once) nor wrapped round to the other side."""
    from medpclip.engine.recognition import _foreground_points

    img = np.zeros((10, 20), np.float32)
    img[:, 15:] = 1.0                        # foreground only on the right
    xs, ys = np.array([-2.5, 5.0, 17.0, 25.0]), np.array([-1.0, 4.0, 12.0])
    assert _foreground_points(img, xs, ys) == [(17.0, 4.0)]  # -2.5 would wrap to column 18 (foreground)


@pytest.mark.parametrize("sample, image", [("radiomics_brain1", "image.nrrd"), ("radiomics_breast1", "image.nrrd")])
def test_find_on_volumes_whose_view_reaches_past_the_slice(engine, sample, image):
    session = engine.open(CT_CASE.parent / sample / image)
    x0, y0, x1, y1 = session.context_window("axial")
    rows, cols = session.canon.shape[1:]
    assert x0 < 0 or y0 < 0 or x1 > cols or y1 > rows       # the case this test is for
    res = session.find("liver", mode="2d")                   # raised IndexError before the grid was checked
    assert isinstance(res.found["found"], bool) and res.mask.shape == session.volume.array.shape
    session.close()

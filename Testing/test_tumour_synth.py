"""Synthetic brain tumours for training (issue 12): nested sub-regions drawn into a brain label map, the training
cases made of them, their share of the samples, and the train command's checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.ndimage import binary_dilation

from medpclip.data.synth import SynthParams, synthesize
from medpclip.data.tumour_synth import (EDEMA, ENHANCING, MIN_VOXELS, NECROSIS, NON_ENHANCING, TUMOUR_NAMES,
                                        insert_tumour, sequence_contrast, tumour_values)
from medpclip.data.volume import VolumeError
from medpclip.training.sample_bank import case_weights
from medpclip.training.synthetic import synthetic_cases

from conftest import CT_CASE, REPO

WM, CORTEX, VENTRICLE, EXTRA = 2, 3, 4, 530
NAMES = {WM: "left cerebral white matter", CORTEX: "left cerebral cortex", VENTRICLE: "left lateral ventricle"}


def _brain() -> np.ndarray:
    """A ball of white matter in a shell of cortex, a ventricle inside, unnamed tissue around (1 mm voxels)."""
    k, j, i = np.mgrid[:72, :72, :72]
    r = np.sqrt((k - 36) ** 2 + (j - 36) ** 2 + (i - 36) ** 2)
    lab = np.full(r.shape, EXTRA, np.int32)
    lab[r > 35] = 0
    lab[r < 33] = CORTEX
    lab[r < 29] = WM
    lab[np.sqrt((k - 36) ** 2 + (j - 36) ** 2 + (i - 48) ** 2) < 5] = VENTRICLE
    return lab


def _draw(lab: np.ndarray, seed: int):
    return insert_tumour(lab, np.ones(3), np.random.default_rng(seed), [WM], list(NAMES), tumour_values(lab))


def test_a_tumour_is_nested_drawn_in_the_brain_only_and_edema_stays_in_white_matter():
    lab = _brain()
    before = lab.copy()
    values = tumour_values(lab)
    assert sorted(values) == sorted(TUMOUR_NAMES) and min(values.values()) > EXTRA
    by_name = {n: v for n, v in values.items()}
    sizes, all_four = [], 0
    for seed in range(10):
        out, drawn = _draw(lab, seed)
        np.testing.assert_array_equal(lab, before)  # the input map is not touched
        assert drawn and set(drawn.values()) <= set(TUMOUR_NAMES)
        tumour = np.isin(out, list(drawn))
        np.testing.assert_array_equal(out != lab, tumour)  # only tumour voxels changed
        assert np.isin(lab[tumour], list(NAMES)).all()  # nothing outside the brain
        assert (lab[out == by_name[EDEMA]] == WM).all()  # edema only replaces white matter
        for v in drawn:
            assert (out == v).sum() >= MIN_VOXELS
        core = np.isin(out, [by_name[ENHANCING], by_name[NECROSIS], by_name[NON_ENHANCING]])
        if by_name[ENHANCING] in drawn:  # the rim wraps the inside of the core: necrosis never touches edema
            inside = np.isin(out, [by_name[NECROSIS], by_name[NON_ENHANCING]])
            assert not (binary_dilation(inside) & (out == by_name[EDEMA])).any(), seed
            assert (binary_dilation(~core) & (out == by_name[ENHANCING])).any()  # and lies on the core's outside
        all_four += len(drawn) == 4
        sizes.append(int(tumour.sum()))
    assert all_four >= 3  # most draws have all four sub-regions
    assert len(set(sizes)) == 10 and max(sizes) > 2 * min(sizes)  # random sizes, not one fixed tumour
    again, drawn_again = _draw(lab, 3)
    np.testing.assert_array_equal(again, _draw(lab, 3)[0])  # deterministic for a seed
    assert drawn_again == _draw(lab, 3)[1]


def test_bad_maps_and_values_are_clear_errors():
    lab = _brain()
    with pytest.raises(VolumeError, match="no voxel of the host tissue"):
        insert_tumour(lab, np.ones(3), np.random.default_rng(0), [99], list(NAMES), tumour_values(lab))
    with pytest.raises(ValueError, match="already used"):
        insert_tumour(lab, np.ones(3), np.random.default_rng(0), [WM], list(NAMES),
                      {**tumour_values(lab), EDEMA: CORTEX})
    with pytest.raises(ValueError, match="no label value given"):
        insert_tumour(lab, np.ones(3), np.random.default_rng(0), [WM], list(NAMES), {EDEMA: 900})
    with pytest.raises(VolumeError, match="3D"):
        insert_tumour(lab[0], np.ones(3), np.random.default_rng(0), [WM], list(NAMES), tumour_values(lab))


def test_sequence_contrast_sets_the_sub_regions_against_white_matter_as_on_flair_and_t1c():
    """FLAIR: oedema brighter than white matter; T1c: the enhancing rim the brightest tissue, the necrosis darker than
    white matter. The rest of the brain keeps its random contrast (it differs between draws)."""
    lab = _brain()
    plain = SynthParams(bias_std=(0.0, 0.0), blur_mm=(0.0, 0.0), thick_prob=0.0, noise_std=(0.0, 0.0))
    out, drawn = next(d for d in (_draw(lab, seed) for seed in range(10)) if len(d[1]) == 4)
    values = {n: v for v, n in drawn.items()}
    cortex_vs_white = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        flair = synthesize(out, np.ones(3), rng, plain, adjust_means=sequence_contrast(values, [WM], "FLAIR"))
        t1c = synthesize(out, np.ones(3), rng, plain, adjust_means=sequence_contrast(values, [WM], "T1c"))
        mean = lambda img, v: float(img[out == v].mean())  # noqa: E731
        assert mean(flair, values[EDEMA]) > mean(flair, WM)
        assert mean(t1c, values[ENHANCING]) >= max(mean(t1c, v) for v in (WM, CORTEX, VENTRICLE)) - 1e-6
        assert mean(t1c, values[NECROSIS]) < mean(t1c, WM)
        cortex_vs_white.append(mean(flair, CORTEX) - mean(flair, WM))
    assert min(cortex_vs_white) < 0 < max(cortex_vs_white)  # the healthy brain's contrast stays random
    with pytest.raises(ValueError, match="unknown sequence"):
        sequence_contrast(values, [WM], "T2")


def test_tumour_cases_name_only_the_tumours_sub_regions(tmp_path):
    img = sitk.GetImageFromArray(_brain().astype(np.int16))
    sitk.WriteImage(img, str(tmp_path / "seg_01.nii.gz"))
    (tmp_path / "labels.json").write_text(json.dumps({str(k): v for k, v in NAMES.items()}))
    cases = synthetic_cases(tmp_path, per_map=1, seed=0, tumours=2)
    assert [c.spec.name for c in cases] == ["synth_seg_01_0", "synth_tumour_seg_01_0", "synth_tumour_seg_01_1"]
    healthy, tumours = cases[0], cases[1:]
    assert set(np.unique(healthy.canon_label)) - {0} == set(NAMES)
    for case in tumours:
        values = set(np.unique(case.canon_label)) - {0}
        assert values and values == set(case.concepts) == set(case.spec.labels)
        assert {case.spec.labels[v] for v in values} <= set(TUMOUR_NAMES)
        assert {c.name for c in case.concepts.values()} <= {"necrotic tumour core", "peritumoral edema",
                                                            "non-enhancing tumour", "enhancing tumour"}
        assert case.canon_image.shape == case.canon_label.shape and 0 <= case.canon_image.min() <= case.canon_image.max() <= 1
        assert case.spec.patient.startswith("synth_tumour_")
    assert not np.array_equal(tumours[0].canon_label, tumours[1].canon_label)
    assert {c.spec.meta["sequence"] for c in tumours} == {"random contrast"}
    sequenced = synthetic_cases(tmp_path, per_map=0, seed=0, tumours=4, tumour_contrast="sequence")
    assert {c.spec.meta["sequence"] for c in sequenced} <= {"FLAIR", "T1c"} and len(sequenced) == 4
    with pytest.raises(ValueError, match="unknown tumour contrast"):
        synthetic_cases(tmp_path, per_map=0, seed=0, tumours=1, tumour_contrast="pretty")


def _case(name: str, patient: str):
    return SimpleNamespace(spec=SimpleNamespace(name=name, patient=patient))


def test_tumour_images_get_their_own_share_of_the_samples():
    cases = [_case("ct_a", "A"), _case("ct_b", "B"), _case("synth_s1_0", "synth_s1"), _case("synth_s2_0", "synth_s2"),
             _case("synth_tumour_s1_0", "synth_tumour_s1_0"), _case("synth_tumour_s1_1", "synth_tumour_s1_1")]
    pairs = [100, 400, 900, 900, 40, 60]

    def shares(w):
        total = sum(w)
        return sum(w[:2]) / total, sum(w[2:4]) / total, sum(w[4:]) / total

    real, synth, tumour = shares(case_weights(cases, pairs, 0.15, tumour_share=0.1))
    assert (real, synth, tumour) == pytest.approx((0.75, 0.15, 0.10))
    real, synth, tumour = shares(case_weights(cases, pairs, 0.15))  # no share of their own: part of the synthetic
    assert real == pytest.approx(0.85) and synth + tumour == pytest.approx(0.15)
    w = case_weights(cases, pairs, 0.15, tumour_share=0.1)
    assert w[4] / w[5] == pytest.approx(np.sqrt(40 / 60))  # each tumour image is its own patient: sqrt(pairs)
    with pytest.raises(ValueError, match="must stay below 1"):
        case_weights(cases, pairs, 0.5, tumour_share=0.5)


def test_train_and_align_cli_check_the_tumour_options(tmp_path):
    def cli(command, *args):
        extra = ["--init-from", str(REPO / "Resources" / "Models" / "medpclip_tiny_default.safetensors")] \
            if command == "align" else []
        return subprocess.run([sys.executable, "-m", "medpclip.cli", command, "--data", str(CT_CASE), "--out",
                               str(tmp_path / "o"), *extra, *args], capture_output=True, text=True, encoding="utf-8",
                              timeout=300, env=dict(os.environ), cwd=REPO)

    for command in ("train", "align"):
        p = cli(command, "--synth-tumours", "2")
        assert p.returncode != 0 and "need --synth" in p.stderr and "Traceback" not in p.stderr
        p = cli(command, "--synth-tumours", "-1")
        assert p.returncode != 0 and "--synth-tumours must be 0 or more" in p.stderr and "Traceback" not in p.stderr
    p = cli("train", "--synth", str(tmp_path), "--synth-tumours", "1", "--synth-tumour-share", "0.9")
    assert p.returncode != 0 and "--synth-tumour-share in [0, 0.85)" in p.stderr
    assert not (tmp_path / "o" / "medpclip.safetensors").exists()


def test_training_and_alignment_read_the_tumour_images(tmp_path):
    """``medpclip train`` / ``align`` with ``--synth-tumours``: the tumour images enter the sample bank with their own
    share, their sub-regions are trained and aligned on, and the checkpoint's provenance says so."""
    from medpclip.model import load_checkpoint
    from medpclip.training.align import AlignOptions, align
    from medpclip.training.trainer import Trainer, TrainOptions

    maps = tmp_path / "maps"
    maps.mkdir()
    sitk.WriteImage(sitk.GetImageFromArray(_brain().astype(np.int16)), str(maps / "seg_01.nii.gz"))
    (maps / "labels.json").write_text(json.dumps({str(k): v for k, v in NAMES.items()}))
    data = str(REPO / "Resources" / "SampleData" / "radiomics_brain1")
    trainer = Trainer(TrainOptions(data=data, out=str(tmp_path / "run"), max_steps=2, batch_size=4, threads=2,
                                   save_every=1000, warmup=1, synth=str(maps), synth_volumes=1, synth_tumours=2,
                                   synth_tumour_share=0.3, planes=("axial", "coronal")))
    names = [c.spec.name for c in trainer.cases]
    tumour = [n for n, name in enumerate(names) if name.startswith("synth_tumour_")]
    assert len(tumour) == 2 and "synth_seg_01_0" in names
    weights = trainer.bank.case_weights
    assert sum(weights[n] for n in tumour) / sum(weights) == pytest.approx(0.3)
    assert all(trainer.bank.pairs_by_case[n] for n in tumour)
    tumour_concepts = {c.name for n in tumour for c in trainer.cases[n].concepts.values()}
    assert tumour_concepts and tumour_concepts <= set(TUMOUR_NAMES)
    checkpoint = trainer.fit(progress=False)["checkpoint"]
    assert load_checkpoint(checkpoint).provenance["options"]["synth_tumours"] == 2

    summary = align(AlignOptions(data, checkpoint, str(tmp_path / "aligned"), steps=3, batch_size=16, threads=2,
                                 synth=str(maps), synth_volumes=0, synth_tumours=1), progress=False)
    prov = load_checkpoint(summary["checkpoint"]).provenance["align"]
    assert prov["synth_tumours"] == 1 and prov["synth_volumes"] == 0
    alone = align(AlignOptions(data, checkpoint, str(tmp_path / "plain"), steps=3, batch_size=16, threads=2),
                  progress=False)
    assert summary["pairs"] > alone["pairs"]  # the tumour's sub-regions are aligned on too

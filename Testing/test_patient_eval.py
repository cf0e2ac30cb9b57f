"""Patient-level benchmark (``medpclip benchmark --patients``): case selection by patient id, the dataset rule,
the data-root walk, and one real run on a sample patient (2D protocols, recognition, one-click 3D), plus the
one-line error for an unknown patient id."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from medpclip.evaluation.items import load_specs, spaced_slices
from medpclip.evaluation.patients import (PatientSelectionError, dataset_average, dataset_name, parse_patients,
                                          patient_of, select_patients)

from conftest import REPO, SAMPLES

CASE = "totalseg_ct_abdomen"
# its meta.json patient id if it has one (the pool's totalseg_ct_full is the same patient), else the case name
PATIENT = json.loads((SAMPLES / CASE / "meta.json").read_text()).get("patient", CASE)


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "medpclip.cli", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, cwd=REPO, env={**os.environ, "MEDPCLIP_THREADS": "2"})


def _case_copy(folder, src, meta: dict | None):
    """A case folder pointing at a sample case's files, with its own meta.json."""
    folder.mkdir(parents=True)
    for f in src.iterdir():
        if f.name != "meta.json":
            (folder / f.name).symlink_to(f)
    base = json.loads((src / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**base, **(meta or {})}))


# -- selection, dataset rule, walk ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, meta, expected", [
    ("ABD_001_100", None, "btcv"),
    ("brats_pat0003_flair", None, "brats"),
    ("totalseg_mr_abdomen", None, "totalseg_mr"),
    ("totalseg_ct_full", None, "totalseg_ct"),
    ("radiomics_brain1", None, "radiomics"),
    ("liver7", None, "liver7"),
    ("ABD_001_100", {"dataset": "BTCV-abdomen"}, "BTCV-abdomen"),
])
def test_dataset_rule(name, meta, expected):
    assert dataset_name(name, meta) == expected


def test_walk_one_level_down_and_select_by_meta_patient(tmp_path):
    root = tmp_path / "pool"
    _case_copy(root / "ct_pat01", SAMPLES / "totalseg_ct_abdomen", {"patient": "P1"})
    _case_copy(root / "group" / "mr_pat02_a", SAMPLES / "totalseg_mr_abdomen", {"patient": "P2"})
    _case_copy(root / "group" / "mr_pat02_b", SAMPLES / "radiomics_brain1", {"patient": "P2"})
    (root / "no_cases_here").mkdir()
    (root / "no_cases_here" / "notes.txt").write_text("label maps only")
    _case_copy(root / "mr_abdomen", SAMPLES / "totalseg_mr_abdomen", None)
    specs = load_specs([root], walk=True)
    names = [s.name for s in specs]
    assert names == ["ct_pat01", "mr_pat02_a", "mr_pat02_b", "mr_abdomen"]   # the group folder was walked into
    assert [s.name for s in load_specs(root)] == ["ct_pat01", "mr_abdomen"]  # slice-level run: no walk, as before
    assert [patient_of(s) for s in specs] == ["P1", "P2", "P2", "mr_abdomen"]  # no patient in meta.json: the name
    assert [s.name for s in select_patients(specs, ["P2"])] == ["mr_pat02_a", "mr_pat02_b"]
    with pytest.raises(PatientSelectionError, match="'P9'"):
        select_patients(specs, ["P1", "P9"])                             # one typo is an error, not a smaller run
    same = load_specs([root / "group", root / "group"], walk=True)        # the same cases reached twice: once
    assert [s.name for s in same] == ["mr_pat02_a", "mr_pat02_b"]


def test_parse_patients_and_spaced_slices(tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("# held out\nBTCV_009, BTCV_010\nTotalSegmentator example_ct  # spaces are part of an id\nBTCV_009\n")
    assert parse_patients("A,B", f) == ("A", "B", "BTCV_009", "BTCV_010", "TotalSegmentator example_ct")
    with pytest.raises(PatientSelectionError):
        parse_patients(" , ")
    import numpy as np

    lab = np.zeros((20, 4, 4), np.int32)
    lab[3:15, 1, 1] = 1
    assert spaced_slices(range(3, 15), lab, 4) == [4, 7, 10, 13]
    assert spaced_slices(range(3, 15), lab, None) == list(range(3, 15))
    assert spaced_slices(range(0, 20), lab, 50) == list(range(3, 15))   # slices without any label are not items


def test_dataset_average_weighs_datasets_equally():
    def group(d1, n):
        return {"methods": {"medpclip": {"click": {"n": n, "dice@1": d1}}},
                "one_click_3d": {"n": 0}}
    avg = dataset_average({"a": group(0.2, 100), "b": group(0.8, 1)})
    assert avg["methods"]["medpclip"]["click"]["dice@1"] == pytest.approx(0.5)
    assert avg["methods"]["medpclip"]["click"]["n"] == 101
    assert avg["one_click_3d"]["n"] == 0


# -- the command on real files ----------------------------------------------------------------------------------
def test_patient_benchmark_on_one_sample_patient(tmp_path):
    out = tmp_path / "bench"
    p = run("benchmark", "--data", SAMPLES, "--patients", PATIENT, "--max-slices-per-case", "1", "--max-trials", "1",
            "--clicks", "2", "--overlays", "1", "--threads", "1", "--alternatives", "--out", out, "--json")
    # 1 thread: a shared 2-core machine with 2 torch threads ran the 3D click 15x slower (docs/BENCHMARK.md, "Threads")
    assert p.returncode == 0, p.stderr
    brief = json.loads(p.stdout)
    prot = brief["protocol"]
    assert prot["mode"] == "patients" and prot["holdout_fraction"] == 1.0
    assert prot["cases"] == [CASE] and prot["patients"] == [PATIENT]     # only that patient's case
    assert set(brief["datasets"]) == {"totalseg_ct"} and "dataset_average" in brief
    ds = brief["datasets"]["totalseg_ct"]
    for m in ("medpclip", "growcut", "regiongrow"):
        for first in ("click", "box"):
            s = ds["methods"][m][first]
            assert s["n"] == 1 and 0.0 <= s["dice@1"] <= 1.0 and 0.0 <= s["dice@2"] <= 1.0
    assert ds["methods"]["medpclip"]["click"]["top1"] in (0.0, 1.0)
    assert ds["methods"]["medpclip"]["click"]["top5"] in (0.0, 1.0)
    assert ds["methods"]["medpclip"]["click"]["top1_together"] in (0.0, 1.0)  # one item: as alone
    assert ds["methods"]["medpclip"]["click"]["top1_together"] == ds["methods"]["medpclip"]["click"]["top1"]
    ours = ds["methods"]["medpclip"]["click"]   # --alternatives: the first click's other answers, best of the first k
    assert ours["dice@1"] <= ours["best_of_2_answers"] <= ours["best_of_3_answers"] <= 1.0
    assert "best_of_2_answers" not in ds["methods"]["growcut"]["click"]
    assert "trials_2d" not in brief                                     # the brief leaves per-trial lists out
    results = json.loads((out / "results.json").read_text())
    assert {t["case"] for t in results["trials_2d"]} == {CASE}
    assert {t["patient"] for t in results["trials_2d"]} == {PATIENT}
    (ours_click,) = [t for t in results["trials_2d"] if t["method"] == "medpclip" and t["first"] == "click"]
    assert len(ours_click["answers_dice"]) == 3 and ours_click["answers_dice"][0] == ours_click["dice"][0]
    # one-click 3D: the largest structure of the 30-slice CT is the liver; measured 0.30 with the default
    # checkpoint, propagation over all 30 slices. A click in the wrong place, a mask in the wrong orientation or no
    # propagation (one slice of 30 at most ~0.03) all fall far below 0.2.
    (t3,) = results["trials_3d_one_click"]
    assert t3["label"] == "liver" and t3["case"] == CASE
    assert 0.2 < t3["dice"] <= 1.0, t3
    assert t3["slices"] > 1 and not t3["stopped_after_1"] and isinstance(t3["warnings"], list)
    assert ds["one_click_3d"]["n"] == 1 and ds["one_click_3d"]["dice"] == t3["dice"]
    md = (out / "results.md").read_text()
    assert "| totalseg_ct |" in md and "dataset average" in md and "| liver |" in md
    assert "first click, best of 3 answers" in md and "Top-1 (named together)" in md


def test_unknown_patient_is_a_one_line_error(tmp_path):
    out = tmp_path / "bench"
    p = run("benchmark", "--data", SAMPLES, "--patients", f"{PATIENT},no_such_patient", "--out", out)  # one typo
    assert p.returncode == 3, p.stderr
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip() and "WARNING" not in ln and "Warning" not in ln]
    assert len(lines) == 1 and lines[0].startswith("medpclip benchmark: error:") and "no_such_patient" in lines[0], p.stderr
    assert not out.exists()

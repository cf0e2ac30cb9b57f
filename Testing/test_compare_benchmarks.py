"""scripts/compare_benchmarks.py: per-structure differences of two patient-level benchmark results."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "compare_benchmarks.py"
RESULTS = REPO / "docs" / "results" / "patient_level" / "results.json"


def test_a_result_against_itself_changes_nothing_and_a_worse_structure_is_named_first(tmp_path):
    same = subprocess.run([sys.executable, str(SCRIPT), str(RESULTS), str(RESULTS)], capture_output=True,
                          encoding="utf-8")
    assert same.returncode == 0, same.stderr
    assert "(+0.000)" in same.stdout and "(-0." not in same.stdout
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    for t in data["trials_2d"]:  # every liver click of the candidate loses 0.2 at the first interaction
        if t["method"] == "medpclip" and t["label"] == "liver" and t["first"] == "click":
            t["dice"][0] -= 0.2
    worse = tmp_path / "worse.json"
    worse.write_text(json.dumps(data), encoding="utf-8")
    out = subprocess.run([sys.executable, str(SCRIPT), str(RESULTS), str(worse)], capture_output=True,
                         encoding="utf-8")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert next(x for x in lines if x.startswith("worst:")).startswith("worst: [(-0.2, ('btcv', 'liver', 'click')")


def test_the_paired_change_per_dataset_comes_with_an_item_bootstrap_interval(tmp_path):
    """Same run twice: every paired change and its interval are zero. Every BTCV click item 0.1 worse at the
    first interaction: the BTCV click line reads -0.100 with an interval of exactly that; one item much worse: the
    change is its share and the interval spans from it to zero."""
    same = subprocess.run([sys.executable, str(SCRIPT), str(RESULTS), str(RESULTS)], capture_output=True,
                          encoding="utf-8")
    paired = [x for x in same.stdout.splitlines() if x.startswith("paired ")]
    assert paired and all(x.count("(+0.000, 95% +0.000..+0.000)") == x.count("95%") for x in paired)
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    clicks = [t for t in data["trials_2d"]
              if t["method"] == "medpclip" and t["dataset"] == "btcv" and t["first"] == "click"]
    for t in clicks:
        t["dice"][0] -= 0.1
    shifted = tmp_path / "shifted.json"
    shifted.write_text(json.dumps(data), encoding="utf-8")
    out = subprocess.run([sys.executable, str(SCRIPT), str(RESULTS), str(shifted)], capture_output=True,
                         encoding="utf-8")
    line = next(x for x in out.stdout.splitlines() if x.startswith("paired btcv   click"))
    assert f"n={len(clicks):3d}" in line
    assert line.split(") ")[0].endswith("(-0.100, 95% -0.100..-0.100")  # the Dice@1 cell
    for t in clicks:
        t["dice"][0] += 0.1
    clicks[0]["dice"][0] -= 0.5 * len(clicks)  # one item alone moves the mean by 0.5 (Dice can go negative here)
    shifted.write_text(json.dumps(data), encoding="utf-8")
    out = subprocess.run([sys.executable, str(SCRIPT), str(RESULTS), str(shifted)], capture_output=True,
                         encoding="utf-8")
    cell = next(x for x in out.stdout.splitlines() if x.startswith("paired btcv   click")).split(") ")[0]
    change, interval = cell.split("(")[1].split(", 95% ")
    low, high = (float(v) for v in interval.split(".."))
    assert float(change) == -0.5 and low < -0.5 and high == 0.0

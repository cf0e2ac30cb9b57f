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
    worst = out.stdout.strip().splitlines()[-1]
    assert worst.startswith("worst: [(-0.2, ('btcv', 'liver', 'click')")

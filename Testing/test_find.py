"""Find by text says when nothing matches (issue 13): a brain term on the abdominal sample CT is "not found",
an abdominal organ is found; the CLI exits 1 and writes nothing for "not found"."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("text", ["liver", "spleen"])
def test_an_abdominal_organ_is_found_on_the_abdominal_ct(ct_session, text):
    res = ct_session.find(text, mode="2d")
    assert res.found["found"] is True and res.voxels > 0 and not res.warnings


def test_cli_find_not_found_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "brain.nii.gz"
    p = subprocess.run([sys.executable, "-m", "medpclip.cli", "find", str(CT_CASE / "image.nii.gz"), "--text", "brain",
                        "--mode", "2d", "--out", str(out), "--json"], capture_output=True, text=True, encoding="utf-8",
                       timeout=300)
    assert p.returncode == 1, p.stderr
    summary = json.loads(p.stdout)
    assert summary["output"] is None and summary["found"]["found"] is False
    assert "not found" in p.stderr and not out.exists()

"""The `medpclip` command end to end on real files, and its bad-input behaviour (one line, non-zero exit,
no traceback, no partial output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import CT_CASE, LIVER, REPO


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "medpclip.cli", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, cwd=REPO, env={**os.environ, "MEDPCLIP_THREADS": "2"})


def ok_json(p):
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def one_line_error(p, needle):
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip() and "WARNING" not in ln and "Warning" not in ln]
    assert len(lines) == 1 and needle in lines[0], p.stderr


@pytest.fixture(scope="module")
def liver_ijk(liver_click):
    return ",".join(str(int(v)) for v in liver_click)


def test_segment_2d_and_3d(tmp_path, liver_ijk, ct_reference):
    out = tmp_path / "liver.nii.gz"
    summary = ok_json(run("segment", CT_CASE / "image.nii.gz", "--point", liver_ijk, "--mode", "3d", "--out", out,
                          "--png", tmp_path / "o.png", "--uncertainty", tmp_path / "u.nrrd", "--json"))
    assert summary["output"] == str(out) and summary["voxels"] > 0 and 0 <= summary["score"] <= 1
    assert {"trunk_ms", "prompt_ms", "total_ms"} <= set(summary["latency_ms"])
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert mask.shape == ct_reference.shape and mask.sum() == summary["voxels"]
    assert (tmp_path / "o.png").stat().st_size > 5000 and (tmp_path / "u.nrrd").exists()


def test_segment_with_prompt_file_in_ras(tmp_path, liver_click, ct_volume):
    from medpclip.data.geometry import from_ijk

    ras = from_ijk(np.array([liver_click]), "ras", ct_volume.affine).tolist()
    (tmp_path / "p.json").write_text(json.dumps({"space": "ras", "points": ras, "point_labels": [1], "mode": "2d"}))
    a = ok_json(run("segment", CT_CASE / "image.nii.gz", "--prompt", tmp_path / "p.json", "--out", tmp_path / "a.nrrd", "--json"))
    b = ok_json(run("segment", CT_CASE / "image.nii.gz", "--point", ",".join(map(str, liver_click)), "--out",
                    tmp_path / "b.seg.nrrd", "--json"))
    assert a["voxels"] == b["voxels"] > 0


def test_identify_with_mask_and_vocabulary(tmp_path, ct_reference):
    out = ok_json(run("identify", CT_CASE / "image.nii.gz", "--mask", CT_CASE / "label.nii.gz", "--label-value", LIVER,
                      "--vocabulary", CT_CASE / "labels.json", "--top-k", 3, "--json"))
    c = out["candidates"]
    assert len(c) == 3 and c[0]["id"] == "liver" and c[0]["name"] == "liver"
    assert c[0]["score"] >= c[1]["score"] >= c[2]["score"]
    (tmp_path / "v.txt").write_text("# organs\nspleen\nliver\nleft kidney\n")
    out = ok_json(run("identify", CT_CASE / "image.nii.gz", "--mask", CT_CASE / "label.nii.gz", "--label-value", LIVER,
                      "--vocabulary", tmp_path / "v.txt", "--json"))
    assert {x["id"] for x in out["candidates"]} == {"spleen", "liver", "kidney_left"}


def test_find_embed_info(tmp_path):
    out = ok_json(run("find", CT_CASE / "image.nii.gz", "--text", "liver", "--mode", "2d", "--out", tmp_path / "f.nii.gz", "--json"))
    assert out["voxels"] > 0 and "alternative" not in out  # a found region offers no other answers
    emb = ok_json(run("embed", CT_CASE / "image.nii.gz", "--mask", CT_CASE / "label.nii.gz", "--label-value", 1,
                      "--out", tmp_path / "e.npy", "--json"))
    assert np.load(tmp_path / "e.npy").shape == (emb["dim"],)
    info = ok_json(run("info", "--json"))
    assert info["config"] == "tiny" and info["parameters"]["total"] > 1_000_000
    assert len(info["checkpoint"]["sha256"]) == 64 and info["device"] == "cpu" and info["checkpoint"]["trained"]


def test_demo(tmp_path):
    p = run("demo", "--out", tmp_path / "demo", "--json", timeout=600)
    report = ok_json(p)
    rows = report["structures"]
    assert {r["case"] for r in rows if r["heldout_patient"]} == {"btcv_ABD_030_125", "brats_pat0006_flair"}
    for name in ("btcv_ABD_030_125_liver.nii.gz", "btcv_ABD_030_125_liver.png", "totalseg_ct_abdomen_liver.png",
                 "find_liver.png", "report.md", "report.json"):
        assert (tmp_path / "demo" / name).exists()
    heldout_liver = next(r for r in rows if r["structure"] == "liver" and r["heldout_patient"])
    assert heldout_liver["dice_2d"] > 0.7 and "dice_3d_1click" not in heldout_liver  # a 2D case
    liver = next(r for r in rows if r["structure"] == "liver" and not r["heldout_patient"])
    assert liver["dice_3d_1click"] > 0.4 and liver["slices"] > 10   # second release 0.45 (first 0.73): model card


def _bad_files(tmp_path):
    (tmp_path / "text.nii.gz").write_text("hello " * 50)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((20, 30), np.float32)), str(tmp_path / "flat.nrrd"))
    arr = np.zeros((5, 20, 30), np.float32)
    arr[2, 5, 5] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "nan.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 20, 30), np.uint8)), str(tmp_path / "emptymask.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 20, 30), np.uint8)), str(tmp_path / "wrongmask.nrrd"))
    (tmp_path / "bad.json").write_text("{points: [1, 2")
    (tmp_path / "evil.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 64)


@pytest.mark.parametrize("args, needle", [
    (["segment", "{t}/missing.nii.gz", "--point", "1,1,1"], "no such file"),
    (["segment", "{t}/text.nii.gz", "--point", "1,1,1"], "text.nii.gz"),
    (["segment", "{t}/flat.nrrd", "--point", "1,1,1"], "3D volume"),
    (["segment", "{t}/nan.nrrd", "--point", "1,1,1"], "NaN"),
    (["segment", "{img}", "--point", "999,1,1"], "outside the image"),
    (["segment", "{img}", "--box", "0,0,0,500,50,5"], "outside the image"),
    (["segment", "{img}", "--point", "a,b,c"], "comma-separated numbers"),
    (["segment", "{img}", "--point", "1,2"], "3 or 4 numbers"),
    (["segment", "{img}", "--point", "60,50,15,7"], "1 or 0"),
    (["segment", "{img}", "--prompt", "{t}/bad.json"], "invalid JSON"),
    (["segment", "{img}", "--point", "60,50,15", "--prior", "{t}/emptymask.nrrd"], "empty"),
    (["segment", "{img}", "--point", "60,50,15", "--prior", "{t}/wrongmask.nrrd"], "does not match"),
    (["segment", "{img}"], "give at least one"),
    (["segment", "{img}", "--point", "60,50,15", "--checkpoint", "{t}/evil.safetensors"], "pickle"),
    (["identify", "{img}", "--mask", "{t}/emptymask.nrrd"], "empty"),
    (["identify", "{img}", "--mask", "{lab}", "--label-value", "77"], "no voxel has label value 77"),
    (["identify", "{img}", "--mask", "{lab}", "--vocabulary", "{t}/missing.txt"], "cannot read vocabulary"),
    (["find", "{img}", "--text", " "], "empty"),
])
def test_bad_inputs_one_line_nonzero_no_output(tmp_path, args, needle):
    _bad_files(tmp_path)
    out = tmp_path / "out.nii.gz"
    fmt = {"t": tmp_path, "img": CT_CASE / "image.nii.gz", "lab": CT_CASE / "label.nii.gz"}
    args = [a.format(**fmt) for a in args]
    if args[0] in ("segment", "find"):
        args += ["--out", str(out)]
    p = run(*args)
    one_line_error(p, needle)
    assert not out.exists()
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".tmp")]


def test_unknown_space_and_plane_are_usage_errors():
    p = run("segment", CT_CASE / "image.nii.gz", "--point", "1,1,1", "--space", "xyz", "--out", "/tmp/x.nii.gz")
    assert p.returncode == 2 and "invalid choice" in p.stderr and "Traceback" not in p.stderr

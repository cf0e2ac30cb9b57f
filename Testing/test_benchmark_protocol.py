"""The benchmark protocol on synthetic shapes where the right answer is known (click placement, error-component
choice, NoC capping, Dice / IoU / surface Dice edge cases), the classical baselines on a synthetic bright disc,
the hold-out rule of the benchmark items, and a smoke run of ``medpclip benchmark`` on one real case."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from medpclip.evaluation.baselines import (BG, FG, PAD, SEED_RADIUS, growcut_2d, growcut_3d, growcut_seeds_2d,
                                           growcut_seeds_3d, region_grow_2d, region_grow_3d)
from medpclip.evaluation.metrics import correction_click_3d, max_edt_point_3d, surface_dice
from medpclip.evaluation.summaries import summarise_2d
from medpclip.data.masks import correction_click, dice, iou, max_edt_point, noc, tight_box
from medpclip.evaluation.protocol import first_prompt, simulate

from conftest import CT_CASE, REPO


def disc(shape, center, radius):
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    return (rr - center[0]) ** 2 + (cc - center[1]) ** 2 <= radius ** 2


# -- click placement ------------------------------------------------------------------------------------------
def test_first_click_is_the_deepest_point_lowest_index_on_ties():
    m = np.zeros((10, 12), bool)
    m[2:6, 3:9] = True  # 4 x 6: the EDT maximum (2 px) is a 2 x 4 plateau; the lowest (row, col) wins
    assert max_edt_point(m) == (3, 4)
    assert max_edt_point(disc((40, 50), (17, 29), 9)) == (17, 29)
    # the image border counts as boundary: a full mask's deepest point is its centre
    assert max_edt_point(np.ones((5, 5), bool)) == (2, 2)
    assert max_edt_point(np.ones((3, 9), bool)) == (1, 1)  # a 1 x 7 plateau: its first pixel
    assert max_edt_point(np.zeros((4, 4), bool)) is None


def test_first_prompt_click_or_tight_box():
    m = np.zeros((20, 20), bool)
    m[4:9, 6:15] = True
    assert first_prompt(m, "click") == ([(6, 8, 1)], None)   # 5 x 9: a 1 x 3 plateau at row 6, its first pixel
    assert first_prompt(m, "box") == ([], (6, 4, 14, 8))
    with pytest.raises(ValueError):
        first_prompt(m, "scribble")


# -- error components -----------------------------------------------------------------------------------------
def test_correction_click_picks_the_largest_error_component_and_labels_it():
    target = disc((60, 60), (20, 20), 8)
    # nothing predicted: positive click at the target's centre
    assert correction_click(np.zeros_like(target), target) == ((20, 20), 1)
    # a small miss (hole) and a larger spill: the spill wins, negative, at its deepest point
    pred = target.copy()
    pred[19:22, 19:22] = False                      # 9 px missed
    pred |= disc((60, 60), (45, 45), 5)            # ~81 px spilled
    assert correction_click(pred, target) == ((45, 45), 0)
    # the larger miss wins over a smaller spill
    pred = target & ~disc((60, 60), (20, 20), 6)
    pred[50:52, 50:52] = True
    (r, c), lab = correction_click(pred, target)
    assert lab == 1 and (r, c) == max_edt_point(target & ~pred)
    # perfect -> None
    assert correction_click(target, target) is None


def test_correction_click_tie_goes_to_the_missed_region():
    target = np.zeros((20, 20), bool)
    target[2:5, 2:5] = True                          # 9 px, missed entirely
    pred = np.zeros_like(target)
    pred[10:13, 10:13] = True                        # 9 px spilled
    assert correction_click(pred, target) == ((3, 3), 1)


# -- metrics --------------------------------------------------------------------------------------------------
def test_dice_and_iou_on_empty_full_and_half_masks():
    empty, full = np.zeros((8, 8), bool), np.ones((8, 8), bool)
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert dice(full, full) == 1.0 and iou(full, full) == 1.0
    assert dice(full, empty) == 0.0 and iou(empty, full) == 0.0
    half = full.copy()
    half[:, 4:] = False
    assert dice(half, full) == pytest.approx(2 / 3) and iou(half, full) == pytest.approx(0.5)


def test_noc_counts_from_one_and_caps():
    assert noc([0.5, 0.86, 0.95], 0.85) == 2
    assert noc([0.91], 0.90) == 1
    assert noc([0.5] * 9, 0.85) == 20
    assert noc([0.5] * 9, 0.85, cap=9) == 9


def test_surface_dice_edge_cases_and_tolerance():
    a = np.zeros((6, 20, 20), bool)
    a[1:5, 5:15, 5:15] = True
    assert surface_dice(a, a, (3, 1, 1), 1.0) == 1.0
    assert surface_dice(np.zeros_like(a), np.zeros_like(a), (3, 1, 1), 1.0) == 1.0
    assert surface_dice(a, np.zeros_like(a), (3, 1, 1), 1.0) == 0.0
    shifted = np.roll(a, 1, axis=2)                  # one column = 1 mm
    assert surface_dice(shifted, a, (3, 1, 1), 1.0) == 1.0
    assert surface_dice(shifted, a, (3, 1, 1), 0.5) < 0.9


def test_3d_click_uses_physical_distance_and_the_largest_component():
    m = np.zeros((9, 20, 20), bool)
    m[:, 5:14, 5:14] = True                          # 9 slices x 9 x 9 px
    assert max_edt_point_3d(m, (1, 1, 1)) == (4, 9, 9)      # isotropic: the centre
    # 5 mm slices: every slice is 5 mm from the top / bottom, the in-plane 5 px limit everywhere -> first slice
    assert max_edt_point_3d(m, (5, 1, 1)) == (0, 9, 9)
    # 0.5 mm slices: the centre slice is only 2.5 mm deep, a 5 x 5 in-plane plateau -> its first pixel
    assert max_edt_point_3d(m, (0.5, 1, 1)) == (4, 7, 7)
    target = np.zeros((5, 20, 20), bool)
    target[1:4, 2:10, 2:10] = True
    pred = np.zeros_like(target)
    pred[0:5, 12:19, 12:19] = True                   # larger spilled block
    (k, r, c), lab = correction_click_3d(pred | target, target, (1, 1, 1))
    assert lab == 0 and pred[k, r, c] and not target[k, r, c]
    assert correction_click_3d(target, target, (1, 1, 1)) is None


# -- the click loop -------------------------------------------------------------------------------------------
def _blob_oracle(target):
    """Predicts the target's connected components that hold a positive click (a perfect local method)."""
    from scipy import ndimage

    lab, _ = ndimage.label(target)

    def predict(points, box):
        keep = {lab[r, c] for r, c, l in points if l == 1} - {0}
        return np.isin(lab, list(keep))
    return predict


def test_simulate_clicks_into_the_missed_component_then_pads():
    target = disc((64, 64), (20, 20), 10) | disc((64, 64), (48, 48), 5)
    sim = simulate(_blob_oracle(target), target, clicks=5, first="click", noc_max=20)
    assert sim.points[0] == (20, 20, 1)               # the larger blob's centre first
    assert sim.points[1] == (48, 48, 1)               # then the missed blob, positive
    assert len(sim.points) == 2                       # perfect after 2: no more clicks
    assert sim.dice[0] < 1 and sim.dice[1:] == [1.0] * 4 and len(sim.dice) == 5
    assert noc(sim.iou, 0.90) == 2


def test_simulate_noc_runs_to_the_cap_when_never_reached():
    target = disc((40, 40), (20, 20), 8)
    calls = []

    def never(points, box):                           # always half the target
        calls.append(len(points))
        out = target.copy()
        out[:, 20:] = False
        return out
    sim = simulate(never, target, clicks=9, first="click", noc_max=20)
    assert len(sim.iou) == 20 and len(calls) == 20 and calls == list(range(1, 21))
    assert noc(sim.iou, 0.85) == 20
    assert sim.at_clicks is not None
    s = summarise_2d([{"dice": sim.dice, "iou": sim.iou, "noc85": noc(sim.iou, 0.85), "noc90": noc(sim.iou, 0.9)}], 9)
    assert s["noc85"] == 20 and s["reached85"] == 0 and 0 <= s["dice@9"] <= 1


def test_simulate_stops_past_clicks_once_iou_reaches_090():
    target = disc((40, 40), (20, 20), 8)
    state = {"n": 0}

    def slow(points, box):                            # reaches the target exactly at interaction 12
        state["n"] += 1
        return target if state["n"] >= 12 else target & (np.arange(40)[None, :] < 20)
    sim = simulate(slow, target, clicks=9, first="box", noc_max=20)
    assert sim.box == tight_box(target) and len(sim.iou) == 12 and noc(sim.iou, 0.90) == 12
    assert dice(sim.at_clicks, target) == pytest.approx(sim.dice[8])


# -- baselines ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bright_disc():
    rng = np.random.default_rng(0)
    target = disc((80, 90), (40, 50), 15)
    image = np.where(target, 200.0, 50.0) + rng.normal(0, 5, target.shape)
    return image.astype(np.float32), target


def test_growcut_seeds_follow_the_documented_rules():
    seeds, origin = growcut_seeds_2d((30, 40), [(10, 12, 1), (20, 30, 0)])
    assert seeds.shape == (30 + 2 * PAD, 40 + 2 * PAD) and tuple(origin) == (-PAD, -PAD)
    inner = seeds[PAD:-PAD, PAD:-PAD]
    n_disc = int(disc((9, 9), (4, 4), SEED_RADIUS).sum())
    assert (inner == FG).sum() == n_disc and (inner == BG).sum() == n_disc   # only the clicks inside the image
    assert inner[10, 12] == FG and inner[20, 30] == BG
    assert (seeds[1, 1:-1] == BG).all() and (seeds[1:-1, -2] == BG).all()      # the ring just outside the slice
    box = (10, 5, 21, 16)                                                    # x0, y0, x1, y1
    seeds, origin = growcut_seeds_2d((30, 40), [], box)
    assert tuple(origin) == (5 - PAD, 10 - PAD)
    assert (seeds[1, 1:-1] == BG).all() and (seeds[PAD:-PAD, PAD:-PAD] != BG).all()  # outline just outside the box
    r, c = (5 + 16) / 2 - origin[0], (10 + 21) / 2 - origin[1]
    assert seeds[int(r), int(c)] == FG and (seeds == FG).sum() < 0.2 * 12 * 12
    s3, o3 = growcut_seeds_3d((8, 30, 40), (10, 5, 2, 21, 16, 5), 3)
    assert s3.shape == (4 + 2 * PAD, 12 + 2 * PAD, 12 + 2 * PAD)
    assert (s3[3 - o3[0]] == FG).any() and not (s3[2 - o3[0]] == FG).any()   # inside seed on the prompted slice only
    assert (s3[PAD:-PAD, 1, 1:-1] == BG).all()                              # the side faces are background


def test_growcut_and_region_growing_find_a_bright_disc(bright_disc):
    image, target = bright_disc
    r, c = max_edt_point(target)
    for method in (growcut_2d, region_grow_2d):
        assert dice(method(image, [(r, c, 1)]), target) > 0.95, method.__name__
        assert dice(method(image, [], tight_box(target)), target) > 0.95, method.__name__


def test_negative_clicks_cut_a_touching_twin(bright_disc):
    image, target = bright_disc
    twin = disc(target.shape, (40, 74), 10) & ~target     # same brightness, overlapping the disc's right side
    image = np.where(twin, image + 150.0, image).astype(np.float32)
    r, c = max_edt_point(target)
    for method in (growcut_2d, region_grow_2d):
        before = dice(method(image, [(r, c, 1)]), target)
        after = dice(method(image, [(r, c, 1), (40, 76, 0)]), target)
        assert before < 0.9 and after > 0.95, (method.__name__, before, after)


def test_baselines_in_3d_from_a_box(bright_disc):
    image, target = bright_disc
    vol = np.stack([image] * 7)
    tgt = np.stack([target] * 7)
    x0, y0, x1, y1 = tight_box(target)
    box = (x0, y0, 1, x1, y1, 5)                          # the box stops short of the first and last slice
    for method in (growcut_3d, region_grow_3d):
        m = method(vol, box, 3)
        assert not m[0].any() and not m[6].any(), method.__name__   # clipped to the box
        assert dice(m[1:6], tgt[1:6]) > 0.95, method.__name__


# -- benchmark items respect the hold-out -----------------------------------------------------------------------
def test_benchmark_items_lie_on_held_out_slices_only():
    from medpclip.data.cases import load_case
    from medpclip.data.datalist import load_cases
    from medpclip.data.holdout import eval_slices, train_slices
    from medpclip.evaluation.items import case_items

    case = load_case(load_cases(CT_CASE)[0])
    slab, items2d, items3d = case_items(case, 0.2, 20, None)
    assert slab == eval_slices(case.canon_label, 0.2)
    assert items2d and items3d
    assert {it.idx for it in items2d} <= set(slab) and not set(slab) & set(train_slices(case.canon_label, 0.2))
    assert all(it.pixels >= 20 for it in items2d)
    assert all(slab[0] <= it.box[2] <= it.mid <= it.box[5] <= slab[-1] for it in items3d)
    _, few2d, few3d = case_items(case, 0.2, 20, 3)
    assert len(few2d) == 3 and len(few3d) == 3
    assert sorted(it.pixels for it in few2d) == sorted(it.pixels for it in items2d)[-3:]


# -- CLI smoke run ----------------------------------------------------------------------------------------------
# Runs the real `medpclip` entry point; registers the sub-command first if cli.COMMANDS does not list it yet.
_CLI = ("import argparse, sys, medpclip.cli as c\n"
        "from medpclip.evaluation.benchmark_cli import add_benchmark\n"
        "s = argparse.ArgumentParser().add_subparsers()\n"
        "[add(s) for add in c.COMMANDS]\n"
        "c.COMMANDS += [] if 'benchmark' in s.choices else [add_benchmark]\n"
        "sys.exit(c.main(sys.argv[1:]))\n")


def run_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-c", _CLI, *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, cwd=REPO, env={**os.environ, "MEDPCLIP_THREADS": "2"})


def test_benchmark_smoke_schema_and_sane_numbers(tmp_path):
    out = tmp_path / "bench"
    p = run_cli("benchmark", "--data", CT_CASE, "--out", out, "--clicks", "3", "--max-trials", "2",
                "--sam-repeats", "0", "--overlays", "1", "--threads", "1", "--json")
    assert p.returncode == 0, p.stderr[-3000:]
    printed = json.loads(p.stdout)
    res = json.loads((out / "results.json").read_text())
    assert printed["methods"] == res["methods"]
    assert set(res["methods"]) == {"medpclip", "growcut", "regiongrow"}
    for name, m in res["methods"].items():
        assert {"dice@1", "dice@3", "dice@5", "dice@9", "noc85", "noc90"} <= set(m), name
        assert m["n"] == 2 and m["box"]["n"] == 2 and m["3d"]["n"] == 2
        for summary in (m, m["box"], m["3d"]):
            assert all(0 <= summary[f"dice@{k}"] <= 1 for k in (1, 3)), name
            assert summary["dice@5"] is None and summary["dice@9"] is None   # only 3 interactions simulated
        assert 1 <= m["noc85"] <= m["noc90"] <= 20
        assert all(0 <= m["3d"][f"nsd@{k}"] <= 1 for k in (1, 3))
        assert m["ms_per_interaction_median"] > 0
    ours = res["methods"]["medpclip"]
    assert all(0 <= ours[k] <= 1 for k in ("top1", "top5", "top1_box", "top1_point", "top1_all_vocabulary"))
    assert ours["top1"] <= ours["top5"]
    lat = res["latency"]
    assert 0 < lat["trunk_ms_median"] < 10000 and 0 < lat["click_ms_median"] <= lat["click_ms_p95"] < 10000
    assert lat["propagate_slices_per_s"] is None or lat["propagate_slices_per_s"] > 0
    rows = res["per_structure"]
    assert rows and all({"case", "structure", "label", "methods"} <= set(r) for r in rows)
    for t in res["trials_2d"]:
        assert t["slice"] in range(12, 18)             # the CT case's held-out axial slices
        assert 3 <= len(t["dice"]) <= 20 and all(0 <= v <= 1 for v in t["dice"] + t["iou"])
    env = res["environment"]
    assert {"date_utc", "command", "cpu", "torch", "torch_threads", "checkpoint", "wall_s"} <= set(env)
    sam = res["sam_speed_peer"]
    assert sam["available"] and sam["ratio"] > 1 and sam["flops"]["sam_encoder_gflops"] > 100
    md = (out / "results.md").read_text()
    assert "| medpclip | 2 |" in md and "Dice@3" in md and "SAM ViT-B" in md
    pngs = sorted(x.name for x in out.glob("*.png"))
    assert "dice_vs_clicks.png" in pngs and any(x.startswith("example_1_") for x in pngs)
    assert all((out / x).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / x).stat().st_size > 5000 for x in pngs)


def test_benchmark_bad_input_is_one_line(tmp_path):
    p = run_cli("benchmark", "--data", CT_CASE, "--out", tmp_path / "x", "--methods", "medpclip,snake")
    assert p.returncode == 3 and "Traceback" not in p.stderr and "snake" in p.stderr
    p = run_cli("benchmark", "--data", tmp_path / "missing", "--out", tmp_path / "x", "--methods", "growcut")
    assert p.returncode == 3 and "Traceback" not in p.stderr
    assert not (tmp_path / "x" / "results.json").exists()


def test_benchmark_stroke_protocol_compares_the_same_strokes(tmp_path):
    out = tmp_path / "strokes"
    p = run_cli("benchmark", "--data", CT_CASE, "--out", out, "--protocol", "strokes", "--strokes", "2",
                "--max-items", "3", "--threads", "1", "--json")
    assert p.returncode == 0, p.stderr[-3000:]
    printed = json.loads(p.stdout)
    res = json.loads((out / "results.json").read_text())
    assert printed["items"] == res["items"] == len(res["trials"]) == 3
    for method in ("medpclip", "growcut"):
        assert set(res[method]) == {"dice@1", "dice@2"}
        assert all(0 <= v <= 1 for v in res[method].values())
    for t in res["trials"]:
        assert len(t["medpclip"]) == len(t["growcut"]) == 2  # Dice after each stroke, both methods
    assert res["first_stroke_ms_median"] > 0 and res["click_ms_median"] > 0
    assert "| medpclip |" in (out / "results.md").read_text()
    p = run_cli("benchmark", "--data", CT_CASE, "--out", tmp_path / "x", "--protocol", "strokes", "--strokes", "0")
    assert p.returncode == 3 and "Traceback" not in p.stderr and "--strokes" in p.stderr
    assert not (tmp_path / "x").exists()


# -- annotator-style scribbles (evaluation/scribbles.py) ---------------------------------------------------------
def _labelled_slice():
    lab = np.zeros((120, 160), np.uint8)
    rr, cc = np.ogrid[:120, :160]
    lab[(rr - 60) ** 2 + (cc - 50) ** 2 <= 25 ** 2] = 1                       # the target
    lab[((rr - 60) ** 2 + (cc - 115) ** 2 <= 20 ** 2)] = 2                    # a neighbour
    lab[10:16, 10:14] = 3                                                     # too small for a stroke (24 px)
    return lab


@pytest.mark.parametrize("span_degrees", [180.0, 360.0])
def test_annotator_strokes_keep_to_their_regions(span_degrees):
    from scipy import ndimage

    from medpclip.evaluation.scribbles import ARC_PX, annotator_strokes

    lab = _labelled_slice()
    strokes = annotator_strokes(lab, 1, np.random.default_rng(0), np.deg2rad(span_degrees))
    target = lab == 1
    assert set(np.unique(strokes)) == {0, 1, 2}
    assert target[strokes == 1].all() and (strokes[target] == 1).sum() >= 30          # a long stroke inside
    neg = strokes == 2
    assert not neg[target].any() and neg[lab == 2].sum() >= 20 and not neg[lab == 3].any()
    d = ndimage.distance_transform_edt(~target)
    arc = neg & (lab == 0)
    ring = (d >= ARC_PX[0]) & (d <= ARC_PX[1]) & (lab == 0)
    assert ((d[arc] >= ARC_PX[0]) & (d[arc] <= ARC_PX[1])).all()
    share = arc.sum() / ring.sum()
    assert (0.35 < share < 0.65) if span_degrees == 180 else share == 1.0
    again = annotator_strokes(lab, 1, np.random.default_rng(0), np.deg2rad(span_degrees))
    assert np.array_equal(strokes, again)                                             # deterministic per seed
    assert annotator_strokes(lab, 7, np.random.default_rng(0)) is None


def test_growcut_from_a_strokes_map():
    from medpclip.evaluation.baselines import growcut_2d_strokes
    from medpclip.evaluation.scribbles import annotator_strokes

    lab = _labelled_slice()
    image = (0.2 + 0.6 * (lab == 1) + 0.3 * (lab == 2)).astype(np.float32)
    strokes = annotator_strokes(lab, 1, np.random.default_rng(0), 2 * np.pi)
    assert dice(growcut_2d_strokes(image, strokes), lab == 1) > 0.95
    only_positive = np.where(strokes == 1, 1, 0).astype(np.uint8)      # the slice's outer ring is the background
    assert growcut_2d_strokes(image, only_positive).sum() > 0


def test_benchmark_scribble_protocol(tmp_path):
    out = tmp_path / "scribbles"
    p = run_cli("benchmark", "--data", CT_CASE, "--out", out, "--protocol", "scribbles", "--max-items", "3",
                "--threads", "1", "--json")
    assert p.returncode == 0, p.stderr[-3000:]
    printed = json.loads(p.stdout)
    res = json.loads((out / "results.json").read_text())
    assert printed["items"] == res["items"] == len(res["trials"]) == 3 and res["background_span_degrees"] == 180
    for t in res["trials"]:
        assert 0 <= t["medpclip"] <= 1 and 0 <= t["growcut"] <= 1
    (name, d), = res["datasets"].items()
    assert d["n"] == 3 and d["medpclip"] == pytest.approx(np.mean([t["medpclip"] for t in res["trials"]]), abs=1e-4)
    assert res["dataset_average"]["medpclip"] == d["medpclip"] and res["answer_ms_median"] > 0
    assert "| dataset average |" in (out / "results.md").read_text()
    p = run_cli("benchmark", "--data", CT_CASE, "--out", tmp_path / "x", "--protocol", "scribbles",
                "--background-span", "0")
    assert p.returncode == 3 and "Traceback" not in p.stderr and "--background-span" in p.stderr
    assert not (tmp_path / "x").exists()

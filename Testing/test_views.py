"""Prompt-centred views (medpclip.data.views, data.slices) and the field-of-view independence they buy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice, max_edt_point
from medpclip.data.slices import OUTSIDE_LOGIT, SliceGrid
from medpclip.data.views import body_box, context_window, object_window, window_side_mm, zoomed_window
from medpclip.data.volume import volume_from_array
from medpclip.engine.views import answer_slice


def test_window_round_trip_maps_model_pixels_back_onto_the_slice():
    rows, cols = 120, 200
    mask = np.zeros((rows, cols), bool)
    mask[40:70, 90:150] = True
    grid = SliceGrid.create(rows, cols, (0.8, 0.8), 256, window=(70, 20, 170, 120))  # 100 x 100 px, 80 mm
    assert grid.h == grid.w == 256 and not grid.is_whole_slice
    low = grid.slice_mask_to_low_res(mask, 64)
    back = grid.logits_to_slice(low) > 0
    assert dice(back, mask) > 0.95
    outside = grid.logits_to_slice(torch.full((64, 64), 5.0))
    assert float(outside[0, 0]) == OUTSIDE_LOGIT and float(outside[60, 100]) > 0
    # a point maps to the same model pixel as the mask's pixel under it
    xy = grid.to_model_xy(np.array([[120.0, 55.0]]))[0]
    assert grid.mask_to_model(mask)[int(round(xy[1])), int(round(xy[0]))] == 1


def test_a_window_past_the_slice_edge_reads_zero():
    img = np.ones((50, 50), np.float32)
    grid = SliceGrid.create(50, 50, (1.0, 1.0), 64, window=(-25, -25, 25, 25))
    t = grid.image_to_model(img)
    assert float(t[:30, :30].max()) < 0.05 and float(t[40:, 40:].min()) > 0.95


def test_body_box_cuts_away_table_padding_and_keeps_the_body():
    vol = np.zeros((10, 200, 300), np.float32)
    yy, xx = np.mgrid[:200, :300]
    body = ((yy - 90) / 50) ** 2 + ((xx - 150) / 80) ** 2 < 1
    vol[:, body] = 0.5
    vol[:, 170:176, 40:260] = 0.4       # the table, apart from the body
    vol[:, 80:100, 5:40] = 0.5          # an arm beside it
    i0, i1, j0, j1 = body_box(vol, np.array([1.0, 1.0, 3.0]))
    assert 60 <= i0 <= 72 and 228 <= i1 <= 242   # body 70..230 with an 8 mm margin
    assert 30 <= j0 <= 42 and 138 <= j1 <= 150
    w = context_window((i0, i1, j0, j1), "coronal", (10, 300))
    assert w == (i0, 0, i1, 10)


def test_object_window_scales_with_the_object_not_the_field_of_view():
    small = object_window((100, 100, 109, 109), (1.0, 1.0))
    large = object_window((100, 100, 199, 199), (1.0, 1.0))
    assert window_side_mm(small, (1.0, 1.0)) == pytest.approx(48, abs=2)            # the minimum
    assert window_side_mm(large, (1.0, 1.0)) == pytest.approx(1.6 * 100 + 20, abs=2)
    fine = object_window((200, 200, 399, 399), (0.5, 0.5))                           # same 100 mm object
    assert window_side_mm(fine, (0.5, 0.5)) == pytest.approx(window_side_mm(large, (1.0, 1.0)), abs=2)


def test_zoomed_window_scales_about_the_centre_and_shifts():
    """Zoomed out (1.5) the window grows about its centre, zoomed in (0.5) it shrinks; the far edges are exclusive
    and rounded outwards (one pixel more at zoom 1, the training bank's jittered context views since 2026-12-02)."""
    w = (20, 40, 120, 100)
    assert zoomed_window(w, 1.0) == (20, 40, 121, 101)
    assert zoomed_window(w, 1.5) == (-5, 25, 146, 116)
    assert zoomed_window(w, 0.5) == (45, 55, 96, 86)
    assert zoomed_window(w, 1.0, (10.0, -4.0)) == (30, 36, 131, 97)


@pytest.mark.parametrize("structure", ["liver", "spleen", "stomach"])
def test_same_structure_same_dice_with_twice_the_field_of_view_and_cropped_to_the_body(engine, ct_volume, ct_reference,
                                                                                       ct_labels, structure):
    """Issue 12: a click keeps its Dice within 0.05 when the slice is padded to twice its field of view (air
    around the body, as a wide scan shows it) and when it is cropped to the body."""
    value = next(v for v, n in ct_labels.items() if n == structure)
    ref = ct_reference == value
    k = int(np.argmax(ref.sum((1, 2))))
    r, c = max_edt_point(ref[k])
    arr, aff = ct_volume.array, ct_volume.affine
    nk, nj, ni = arr.shape
    air = float(arr.min())

    def click_dice(array, affine, offset_i, offset_j):
        vol = volume_from_array(array, affine, "CT")
        res = engine.open(vol).segment({"space": "ijk", "points": [[c + offset_i, r + offset_j, k]], "point_labels": [1]})
        sub = res.mask[k, offset_j:offset_j + nj, offset_i:offset_i + ni] if offset_i >= 0 else None
        return dice(sub > 0, ref[k])

    base = click_dice(arr, aff, 0, 0)
    assert base > 0.35, f"{structure}: one-click Dice {base:.3f} on the sample CT"  # a broken pipeline gives ~0
    pad = np.full((nk, 2 * nj, 2 * ni), air, np.float32)
    pad[:, nj // 2:nj // 2 + nj, ni // 2:ni // 2 + ni] = arr
    pad_aff = aff.copy()
    pad_aff[:3, 3] -= aff[:3, :3] @ np.array([ni // 2, nj // 2, 0])
    padded = click_dice(pad, pad_aff, ni // 2, nj // 2)
    # cropped to the body (body > -500 HU, 2 px margin): the crop's result is compared inside the crop
    body = (arr > -500).any(0)
    js, is_ = np.nonzero(body)
    j0, j1, i0, i1 = max(0, js.min() - 2), min(nj, js.max() + 3), max(0, is_.min() - 2), min(ni, is_.max() + 3)
    crop_aff = aff.copy()
    crop_aff[:3, 3] += aff[:3, :3] @ np.array([i0, j0, 0])
    vol = volume_from_array(np.ascontiguousarray(arr[:, j0:j1, i0:i1]), crop_aff, "CT")
    res = engine.open(vol).segment({"space": "ijk", "points": [[c - i0, r - j0, k]], "point_labels": [1]})
    cropped = dice(res.mask[k] > 0, ref[k, j0:j1, i0:i1])
    assert abs(padded - base) <= 0.05 and abs(cropped - base) <= 0.05, (structure, base, padded, cropped)


def test_3d_propagation_says_where_and_why_it_stopped(session, liver_click, monkeypatch):
    import medpclip.engine.policy as S

    monkeypatch.setattr(S, "STOP_SCORE", 1.01)  # every propagated slice fails the quality rule
    res = session.segment({"space": "ijk", "points": [liver_click], "point_labels": [1], "mode": "3d"})
    assert len(res.slices) == 1
    assert any("kept only the prompted slice" in w for w in res.warnings)
    assert {p["direction"] for p in res.propagation} == {"superior", "inferior"}
    stopped = [p for p in res.propagation if "stopped_at_slice" in p]
    assert stopped and all("quality" in p["reason"] for p in stopped)
    assert all(abs(p["stopped_at_slice"] - liver_click[2]) == 1 for p in stopped)
    assert res.summary()["propagation"] == res.propagation


def test_a_3d_correction_click_beyond_where_propagation_stopped_seeds_its_own_run(session, ct_reference, liver_click,
                                                                                   monkeypatch):
    """``SEED_FROM_CLICKS``: a positive click on a slice the propagation did not reach is answered from its own
    clicks and carried both ways; the run says where it came from and ends where the first one wrote. Off, the
    click is ignored (the behaviour before session 39)."""
    from medpclip.engine import policy, propagate as prop

    liver = ct_reference == 5
    k = int(liver_click[2])
    start = session.canon_slice_index("axial", k)
    k2 = next(kk for kk in (k + 4, k - 4) if session.canon_slice_index("axial", kk) == start + 4)  # 4 slices up
    r, c = max_edt_point(liver[k2])
    prompt = {"space": "ijk", "points": [liver_click, [float(c), float(r), float(k2)]], "point_labels": [1, 1],
              "mode": "3d", "slice": k}
    real = prop._stop_rule

    def stopped_at_once():   # the first propagated slice (upwards) fails; every later one is judged as usual
        first = iter([True])
        monkeypatch.setattr(prop, "_stop_rule", lambda *a: "quality" if next(first, False) else real(*a))

    stopped_at_once()
    res = session.segment(prompt, feedback=False)
    between = range(min(k, k2), max(k, k2) + 1)
    assert all(res.mask[kk].any() for kk in between)                 # the gap filled from the clicked slice down
    assert dice(res.mask[k2] > 0, liver[k2]) > 0.5
    seeded = [p for p in res.propagation if p.get("from_slice") == k2]
    assert len(seeded) == 2 and any("another click" in p["reason"] for p in seeded)
    assert not any("another click" in w for w in res.warnings)       # joining is no warning
    monkeypatch.setattr(policy, "SEED_FROM_CLICKS", False)
    stopped_at_once()
    plain = session.segment(prompt, feedback=False)
    assert not plain.mask[k2].any() and not any("from_slice" in p for p in plain.propagation)


def test_a_3d_correction_click_on_a_propagated_slice_is_answered_as_a_2d_correction(session, ct_reference, monkeypatch):
    """``CORRECT_CLICKED_SLICES``: a propagated slice that holds clicks is answered once more with its clicks and its
    own logits, without the box drawn from the previous slice's mask, so a missed part the user clicks is added;
    without it the box keeps the model away. The sample CT's spleen, propagated from its largest slice; the click
    is the benchmark's 3D correction click."""
    from medpclip.engine import policy
    from medpclip.evaluation.metrics import correction_click_3d

    spleen = ct_reference == 1
    k = int(np.argmax(spleen.sum(axis=(1, 2))))
    r, c = max_edt_point(spleen[k])
    prompt = {"space": "ijk", "points": [[float(c), float(r), float(k)]], "point_labels": [1], "mode": "3d"}
    first = session.segment(prompt, feedback=False).mask > 0
    (kk, rr, cc), label = correction_click_3d(first, spleen, np.linalg.norm(session.volume.affine[:3, :3], axis=0)[::-1])
    assert label == 1 and kk != k and first[kk].any() and not first[kk, rr, cc]   # a miss on a propagated slice
    corrected = dict(prompt, points=prompt["points"] + [[float(cc), float(rr), float(kk)]], point_labels=[1, 1])
    res = session.segment(corrected, feedback=False).mask > 0
    assert res[kk, rr, cc] and dice(res, spleen) > dice(first, spleen)
    monkeypatch.setattr(policy, "CORRECT_CLICKED_SLICES", False)
    assert not (session.segment(corrected, feedback=False).mask > 0)[kk, rr, cc]


@pytest.fixture(scope="module")
def session(engine, ct_volume):
    return engine.open(ct_volume)


def test_a_fitted_click_choice_head_decides_the_first_pass_of_a_new_click_only(session, liver_click):
    """The click choice head picks which multimask output answers a new click's context pass (``choose``); any
    other pass, and a stroke's first pass, keep the IoU head's choice; different picks give different answers."""
    chooser = session.model.click_choice
    head, saved = chooser.proj, {k: v.clone() for k, v in chooser.state_dict().items()}
    x, y, idx = (np.linalg.inv(session.orient.index_matrix()) @ np.array([*liver_click, 1.0]))[:3]
    plane, idx = "axial", int(round(idx))  # canonical axial slice and its pixel

    def force(bias: list[float]) -> None:
        with torch.no_grad():  # the bias alone decides (the bundled head's weights and margin set aside)
            head.weight.zero_()
            chooser.margin.zero_()
            head.bias.copy_(torch.tensor(bias))

    def answer(choose: bool, bias: list[float]) -> torch.Tensor:
        force(bias)
        return session.predict_slice(plane, idx, [(x, y, 1)], choose=choose).low_res

    try:
        forced = [answer(True, [5.0 if k == n else 0.0 for k in range(3)]) for n in range(3)]
        plain = answer(False, [5.0, 0.0, 0.0])
        unbiased = answer(False, [0.0, 0.0, 0.0])
        strokes = np.zeros(extract_slice(session.canon, plane, idx).shape, np.uint8)
        strokes[int(y) - 1:int(y) + 2, int(x) - 3:int(x) + 4] = 1  # a short positive stroke through the click
        stroked = []
        for n in range(3):  # strokes' first pass: the head is not asked, whatever it would pick
            force([5.0 if k == n else 0.0 for k in range(3)])
            stroked.append(answer_slice(session, plane, idx, [(x, y, 1)], None, None, None, strokes)[0].low_res)
    finally:
        chooser.load_state_dict(saved)
    assert all(torch.equal(v, saved[k]) for k, v in chooser.state_dict().items())
    assert not torch.equal(forced[0], forced[2]) and not torch.equal(forced[0], forced[1])
    assert torch.equal(plain, unbiased)  # not asked to choose: the IoU head's best
    assert any(torch.equal(plain, f) for f in forced)
    assert torch.equal(stroked[0], stroked[1]) and torch.equal(stroked[0], stroked[2])


def test_propagation_draws_the_previous_answer_in_the_view_it_is_used_in(session, ct_reference, monkeypatch):
    """A click on a small organ is answered in its object view; propagation runs in the context view, so the
    first propagated slice's mask prompt must be the prompted slice's answer re-drawn in the context view, not
    the object view's logits read as if they were the context view's (the bug fixed on 2026-12-05: the prompt
    then lay elsewhere and at another scale)."""
    import medpclip.engine.policy as S

    monkeypatch.setattr(S, "STOP_SCORE", 1.01)  # stop after the first propagated slice each way
    spleen = ct_reference == 1
    k = int(np.argmax(spleen.sum(axis=(1, 2))))
    r, c = max_edt_point(spleen[k])
    calls = []
    original = session.predict_views

    def recording(plane, idx, points, windows, *args, **kwargs):   # every pass: predict_slice calls predict_views
        res = original(plane, idx, points, windows, *args, **kwargs)
        low = args[2] if len(args) > 2 else kwargs.get("prev_low_res")
        calls.extend((idx, w, low) for w in windows)
        return res

    monkeypatch.setattr(session, "predict_views", recording)
    res = session.segment({"space": "ijk", "points": [[float(c), float(r), float(k)]], "point_labels": [1],
                           "mode": "3d"})
    plane, start, seed = res.answer2d
    context = session.context_window(plane)
    seed_windows = {w for i, w, _ in calls if i == start}
    assert any(w != context for w in seed_windows), "precondition: the click was refined in an object view"
    propagated = [(w, low) for i, w, low in calls if i != start and low is not None]
    assert propagated
    for window, low in propagated:
        drawn = session.grid(plane, window).logits_to_slice(low[0, 0].float()).numpy() > 0
        assert dice(drawn, seed) > 0.8, "the mask prompt is not the prompted slice's answer in this view"


# -- a click's first pass in a view around the click (policy.CLICK_VIEW_MM) ------------------------------------------
def _spleen_click(session, ct_reference):
    """The sample CT's spleen on its largest axial slice: its reference slice, and the deepest point (input ijk and
    canonical slice pixel)."""
    spleen = ct_reference == 1
    k = int(np.argmax(spleen.sum(axis=(1, 2))))
    r, c = max_edt_point(spleen[k])
    x, y, _ = (np.linalg.inv(session.orient.index_matrix()) @ np.array([c, r, k, 1.0]))[:3]
    return spleen[k], [float(c), float(r), float(k)], (x, y)


def test_a_click_view_answers_the_first_pass_in_a_square_around_the_click(session, ct_reference, monkeypatch):
    """With ``CLICK_VIEW_MM`` (on by default) a new click's first pass looks at a square of that side (mm) centred on
    the click; the body's view answers the same click (to tell a fragment of a larger organ); a kept answer stands
    (two passes), or with ``CLICK_VIEW_REFINE`` is refined in a view around it."""
    from medpclip.data.geometry import slice_pixel_spacing
    from medpclip.engine import policy
    from helpers import count_passes

    ref, ijk, (x, y) = _spleen_click(session, ct_reference)
    assert policy.CLICK_VIEW_MM is not None and not policy.CLICK_VIEW_REFINE   # the defaults
    side = 120.0   # the spleen's answer in this view is kept (in 160 mm the body's view's answer wins a check)
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", side)
    monkeypatch.setattr(policy, "CLICK_VIEW_REFINE", True)
    views = count_passes(session, monkeypatch)
    res = session.segment({"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}, feedback=False)
    spacing = slice_pixel_spacing(session.spacing, "axial")
    x0, y0, x1, y1 = views[0]
    assert views[0] != session.context_window("axial") and views[1] == session.context_window("axial")
    assert len(views) <= 3  # the click's view, the body's view (is the answer a fragment?), the refining pass
    assert abs((x1 - x0 - 1) * spacing[1] - side) <= 2 * spacing[1] and abs((y1 - y0 - 1) * spacing[0] - side) <= 2 * spacing[0]
    assert abs((x0 + x1 - 1) / 2 - x) <= 1 and abs((y0 + y1 - 1) / 2 - y) <= 1
    d = dice(res.mask[int(ijk[2])] > 0, ref)
    print(f"spleen, first pass in a {side} mm view around the click: Dice {d:.3f}, views {views}")
    assert d > 0.3
    monkeypatch.setattr(policy, "CLICK_VIEW_REFINE", False)   # the click view's answer stands: two passes
    views.clear()
    session.segment({"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}, feedback=False)
    assert views == [(x0, y0, x1, y1), session.context_window("axial")]


def test_views_answered_in_one_batch_equal_each_view_answered_alone(session, ct_reference):
    """``predict_views`` (the click's view and the body's view through the model together) gives each view the
    answer ``predict_slice`` gives it alone: the same mask, score and region embedding."""
    from medpclip.data.geometry import slice_pixel_spacing
    from medpclip.engine.views import click_view_window

    _, ijk, (x, y) = _spleen_click(session, ct_reference)
    idx = session.canon_slice_index("axial", int(ijk[2]))
    context = session.context_window("axial")
    window = click_view_window((x, y, x, y), slice_pixel_spacing(session.spacing, "axial"), context)
    assert window is not None and window != context
    together = session.predict_views("axial", idx, [(x, y, 1)], [window, context], choose=[False, True])
    alone = [session.predict_slice("axial", idx, [(x, y, 1)], window=window),
             session.predict_slice("axial", idx, [(x, y, 1)], window=context, choose=True)]
    for batched, single in zip(together, alone):
        assert np.array_equal(batched.mask, single.mask) and batched.mask.any()
        assert abs(batched.score - single.score) < 1e-4
        assert torch.allclose(batched.region, single.region, atol=1e-4)
        assert torch.allclose(batched.logits, single.logits, atol=1e-3)
    assert not np.array_equal(together[0].mask, together[1].mask)   # two views, two answers


def test_a_prior_mask_answered_in_its_view_and_the_body_view_in_one_batch_equals_each_alone(session, ct_reference):
    """A mask prompt (with its click) goes through its object view and the body's view as one batch, each view fed
    its own drawing of the prior mask: each answer equals that view's single pass, and the higher rated is kept."""
    from medpclip.data.geometry import slice_pixel_spacing
    from medpclip.data.views import mask_extent, object_window

    ref, ijk, (x, y) = _spleen_click(session, ct_reference)
    idx = session.canon_slice_index("axial", int(ijk[2]))
    canon_ref = extract_slice(session.canonical_mask(ct_reference == 1), "axial", idx)
    window = object_window(mask_extent(canon_ref), slice_pixel_spacing(session.spacing, "axial"))
    context = session.context_window("axial")
    low = session.engine.cfg.image_size // 4
    prevs = [session.grid("axial", w).slice_mask_to_low_res(canon_ref, low)[None, None] for w in (window, context)]
    together = session.predict_views("axial", idx, [(x, y, 1)], [window, context], None, canon_ref, torch.cat(prevs))
    for w, prev, batched in zip((window, context), prevs, together):
        single = session.predict_slice("axial", idx, [(x, y, 1)], None, canon_ref, prev, window=w)
        assert np.array_equal(batched.mask, single.mask) and abs(batched.score - single.score) < 1e-4
    mask = np.zeros_like(ct_reference, bool)
    mask[int(ijk[2])] = ref
    res = session.segment({"space": "ijk", "points": [ijk], "mode": "2d"}, prior_mask=mask, feedback=False)
    kept = max(together, key=lambda a: a.score)
    assert np.array_equal(extract_slice(session.canonical_mask(res.mask), "axial", idx), kept.mask)


def test_a_new_click_sends_its_view_and_the_body_view_through_the_model_as_one_batch(engine, session, ct_reference,
                                                                                      monkeypatch):
    """The click's view and the body's view are one batch (one call, both trunks encoded together), and the click's
    trunk time is reported as such: every view it encoded, not only the body's."""
    calls = []
    fresh = engine.open(session.volume)   # nothing encoded, nothing prefetched
    original = fresh.predict_views

    def recording(plane, idx, points, windows, *args, **kwargs):
        calls.append(list(windows))
        return original(plane, idx, points, windows, *args, **kwargs)

    monkeypatch.setattr(fresh, "predict_views", recording)
    _, ijk, _ = _spleen_click(fresh, ct_reference)
    res = fresh.segment({"space": "ijk", "points": [ijk], "mode": "2d"}, feedback=False)
    fresh.close()
    assert len(calls[0]) == 2 and calls[0][1] == fresh.context_window("axial")
    lat = res.latency_ms
    assert lat["trunk_cached"] == 0.0 and lat["trunk_ms"] > 0 and lat["prompt_ms"] > 0
    assert lat["trunk_ms"] + lat["prompt_ms"] <= lat["total_ms"] + 1e-6


def test_a_click_view_that_cuts_its_answer_leaves_the_click_to_the_body_view(session, ct_reference, monkeypatch):
    """Where the answer in the view around the click reaches that view's edge (the object is larger than the view),
    the body's view answers, exactly as without the rule."""
    from medpclip.engine import policy, views as view_rules
    from helpers import count_passes

    _, ijk, _ = _spleen_click(session, ct_reference)
    prompt = {"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", None)   # the body's view's rule
    plain = session.segment(prompt, feedback=False)
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", 120.0)
    cut = iter([True])   # the click's own view "cuts" its answer; later checks are the real ones
    real = view_rules.touches_border
    monkeypatch.setattr(view_rules, "touches_border", lambda mask, window, margin=1: next(cut, None) or real(mask, window, margin))
    views = count_passes(session, monkeypatch)
    res = session.segment(prompt, feedback=False)
    assert len(views) >= 2 and views[0] != views[1] == session.context_window("axial")
    assert np.array_equal(res.mask, plain.mask)


@pytest.mark.parametrize("check", ["is_fragment_of", "grew_past"])
def test_a_click_views_answer_that_fails_a_check_gives_way_to_the_body_views(session, ct_reference, monkeypatch, check):
    """Where the body's view's answer is the whole organ the click's view answered a piece of, or the click view's
    answer grew past the object the body's view found, the click is answered as without the rule."""
    from medpclip.engine import policy, views as view_rules

    _, ijk, _ = _spleen_click(session, ct_reference)
    prompt = {"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", None)   # the body's view's rule
    plain = session.segment(prompt, feedback=False)
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", 120.0)
    local = session.segment(prompt, feedback=False)
    monkeypatch.setattr(view_rules, check, lambda *masks: True)
    res = session.segment(prompt, feedback=False)
    assert np.array_equal(res.mask, plain.mask) and not np.array_equal(local.mask, plain.mask)


def test_a_fragment_is_a_small_same_tissue_piece_of_the_whole():
    """``is_fragment_of``: the whole must be over CLICK_VIEW_WHOLE_RATIO x the piece, hold it, and be of its
    tissue; a small organ inside a neighbour of another intensity is not a fragment of it."""
    from medpclip.engine.views import is_fragment_of

    rng = np.random.default_rng(0)
    image = 0.5 + 0.01 * rng.standard_normal((100, 100))
    image[60:80, 60:80] = 0.3 + 0.01 * rng.standard_normal((20, 20))   # another tissue
    organ = np.zeros((100, 100), bool)
    organ[10:90, 10:90] = True
    piece = np.zeros_like(organ)
    piece[20:35, 20:35] = True
    assert is_fragment_of(piece, organ & (image > 0.4), image)   # the rest is the piece's tissue
    small = np.zeros_like(organ)
    small[63:77, 63:77] = True                                   # a small organ of the other tissue
    assert not is_fragment_of(small, organ, image)               # its body-view answer leaked into the neighbour
    assert not is_fragment_of(piece, piece | np.roll(piece, 20, axis=0), image)   # not 4x larger
    assert not is_fragment_of(piece, organ & ~piece, image)                      # does not hold it
    assert not is_fragment_of(np.zeros_like(piece), organ, image)


def test_a_click_view_answer_grew_past_the_body_views_when_much_larger_and_holding_it():
    from medpclip.engine.views import grew_past

    vessel = np.zeros((60, 60), bool)
    vessel[25:35, 25:35] = True
    blob = np.zeros_like(vessel)
    blob[18:42, 18:42] = True
    assert grew_past(blob, vessel)                       # 5.8x and holding it: grown past the vessel
    assert not grew_past(vessel, vessel)                 # the same answer
    assert not grew_past(blob, np.roll(vessel, 30, 1))   # does not hold the body view's answer
    assert not grew_past(blob, np.zeros_like(vessel))    # the body's view found nothing


def test_a_click_asked_without_the_click_view_is_answered_as_the_body_views_rule(session, ct_reference, monkeypatch):
    """``segment(..., click_view=False)`` (what ``find`` asks): the click's first pass is the body's view's, exactly
    as with ``CLICK_VIEW_MM = None``, whatever the policy says."""
    from medpclip.engine import policy
    from helpers import count_passes

    _, ijk, _ = _spleen_click(session, ct_reference)
    prompt = {"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", None)
    plain = session.segment(prompt, feedback=False)
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", 120.0)
    views = count_passes(session, monkeypatch)
    res = session.segment(prompt, feedback=False, click_view=False)
    assert views[0] == session.context_window("axial") and np.array_equal(res.mask, plain.mask)
    assert not np.array_equal(session.segment(prompt, feedback=False).mask, plain.mask)   # the click view answers


def test_a_new_clicks_result_carries_the_body_views_region_embedding(session, ct_reference, monkeypatch):
    """``NAME_CLICK_IN_BODY_VIEW``: whichever view's answer is kept, a new click's result is named from the body's
    view's pass (the whole body in sight); off, from the kept pass's own embedding."""
    from medpclip.engine import policy

    _, ijk, (x, y) = _spleen_click(session, ct_reference)
    prompt = {"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}
    idx = session.canon_slice_index("axial", int(ijk[2]))
    body = session.predict_slice("axial", idx, [(x, y, 1)], None, None, None, window=session.context_window("axial"),
                                 choose=True).region
    assert policy.NAME_CLICK_IN_BODY_VIEW
    res = session.segment(prompt, feedback=False)
    assert torch.allclose(res.region_embedding, body, atol=1e-5)
    monkeypatch.setattr(policy, "NAME_CLICK_IN_BODY_VIEW", False)
    own = session.segment(prompt, feedback=False)
    assert np.array_equal(own.mask, res.mask) and not torch.allclose(own.region_embedding, body, atol=1e-3)


def test_a_body_view_answer_is_refined_only_where_its_view_is_small_against_the_body(session, ct_reference,
                                                                                   monkeypatch):
    """``REFINE_SKIP_SHARE``: a click answered in the body's view is refined in a view around its answer only when
    that view's side is at most this share of the body's view's. The sample CT's spleen lies at its measured share:
    with the rule just above it, one pass more and the refined answer; just below it, the body's view's answer
    stands after one pass."""
    from medpclip.data.geometry import slice_pixel_spacing
    from medpclip.engine import policy
    from helpers import count_passes

    _, ijk, _ = _spleen_click(session, ct_reference)
    prompt = {"space": "ijk", "points": [ijk], "point_labels": [1], "mode": "2d"}
    monkeypatch.setattr(policy, "CLICK_VIEW_MM", None)           # the body's view answers first
    context = session.context_window("axial")
    views = count_passes(session, monkeypatch)
    monkeypatch.setattr(policy, "REFINE_SKIP_SHARE", 1.0)        # refine whatever the size
    refined = session.segment(prompt, feedback=False)
    assert len(views) == 2 and views[0] == context and views[1] != context
    spacing = slice_pixel_spacing(session.spacing, "axial")
    share = window_side_mm(views[1], spacing) / window_side_mm(context, spacing)
    views.clear()
    monkeypatch.setattr(policy, "REFINE_SKIP_SHARE", share + 0.01)
    assert np.array_equal(session.segment(prompt, feedback=False).mask, refined.mask) and len(views) == 2
    views.clear()
    monkeypatch.setattr(policy, "REFINE_SKIP_SHARE", share - 0.01)
    kept = session.segment(prompt, feedback=False)
    print(f"spleen: refining view {share:.2f} of the body's view")
    assert views == [context] and not np.array_equal(kept.mask, refined.mask)

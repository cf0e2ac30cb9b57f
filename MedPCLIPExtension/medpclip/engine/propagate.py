"""3D propagation: carry a slice's mask through its neighbours, one direction at a time, until a stop rule
(``policy``) fires or the image / ROI ends, and say where and why each direction stopped."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.geometry import extract_slice, insert_slice, slice_pixel_spacing
from ..data.masks import max_edt_point
from ..data.slices import Window
from ..data.views import mask_extent, object_window
from . import policy
from .prompt import ResolvedPrompt
from .results import SliceResult, uncertainty_map
from .views import answer_slice, keeps_view, mask_at, with_mask

if TYPE_CHECKING:
    from .session import Session


def propagate(session: "Session", prompt: ResolvedPrompt, seed: SliceResult, seed_window: Window,
              canon_mask: np.ndarray, canon_unc: np.ndarray | None,
              object_views: bool | None = None) -> tuple[list[int], list[dict[str, Any]]]:
    """Both directions from the prompted slice, written into the canonical views ``canon_mask`` / ``canon_unc``;
    in object views or the context view (``object_views``; None: ``policy.PROPAGATION_OBJECT_VIEW``). Then, with
    ``policy.SEED_FROM_CLICKS``, every slice with a positive click that the propagation did not reach is answered
    from its own clicks and carried both ways until a stop rule or a slice already written: a 3D correction click
    beyond where propagation stopped then counts. -> (canonical slices written, per run and direction: slices /
    where / why it stopped; a run from a clicked slice says ``from_slice``)."""
    if object_views is None:
        object_views = policy.PROPAGATION_OBJECT_VIEW
    plane = prompt.plane
    if prompt.box_range and prompt.box_range[1] > prompt.box_range[0]:
        limits = prompt.box_range
    else:
        limits = (0, session.n_slices(plane) - 1)
    written = {prompt.start}
    slices, stops = _both_directions(session, prompt, seed, seed_window, limits, canon_mask, canon_unc, object_views,
                                     written)
    for idx in sorted(prompt.by_slice) if policy.SEED_FROM_CLICKS else []:
        clicks = prompt.by_slice[idx]
        if idx in written or not limits[0] <= idx <= limits[1] or not any(p[2] == 1 for p in clicks):
            continue
        answer, window = answer_slice(session, plane, idx, clicks, prompt.box2d, None, None)
        mask = _inside_box(answer.mask, prompt.box2d)
        if not mask.any():
            continue
        if prompt.box2d is not None:  # the run goes on from the clipped answer
            answer = with_mask(answer, mask)
        insert_slice(canon_mask, plane, idx, mask)
        if canon_unc is not None:
            insert_slice(canon_unc, plane, idx, uncertainty_map(answer.logits))
        written.add(idx)
        done, more = _both_directions(session, dataclasses.replace(prompt, start=idx), answer, window, limits,
                                      canon_mask, canon_unc, object_views, written)
        slices += [idx] + done
        stops += [{"from_slice": session.input_slice_index(plane, idx), **st} for st in more]
    return slices, stops


def _both_directions(session: "Session", prompt: ResolvedPrompt, seed: SliceResult, seed_window: Window,
                     limits: tuple[int, int], canon_mask: np.ndarray, canon_unc: np.ndarray | None,
                     object_views: bool, written: set[int]) -> tuple[list[int], list[dict[str, Any]]]:
    """Propagation from ``prompt.start`` each way; ``written`` (slices already segmented) grows as it goes."""
    slices, stops = [], []
    for direction in (1, -1):
        done, stop = _one_direction(session, prompt, seed, seed_window, direction, limits, canon_mask, canon_unc,
                                    object_views, written)
        slices += done
        stops.append(describe_stop(session, prompt.plane, direction, done, stop))
    return slices, stops


def _misses_a_click(mask: np.ndarray, clicks: list[tuple[float, float, int]]) -> bool:
    """Whether a positive click lies outside ``mask``."""
    return any(p[2] == 1 and not mask_at(mask, p) for p in clicks)


def _inside_box(mask: np.ndarray, box2d: tuple[float, float, float, float] | None) -> np.ndarray:
    """``mask`` cut to an ROI's in-plane box (the mask itself without one)."""
    if box2d is None:
        return mask
    x0, y0, x1, y1 = box2d
    clip = np.zeros_like(mask)
    clip[max(0, int(np.floor(y0))):int(np.ceil(y1)) + 1, max(0, int(np.floor(x0))):int(np.ceil(x1)) + 1] = True
    return mask & clip  # not in place: a result's mask is read once and kept


def _one_direction(session: "Session", prompt: ResolvedPrompt, seed: SliceResult, seed_window: Window,
                   direction: int, limits: tuple[int, int], canon_mask: np.ndarray,
                   canon_unc: np.ndarray | None, object_views: bool,
                   written: set[int]) -> tuple[list[int], tuple[int, str] | None]:
    """Carry the mask slice by slice: previous logits as mask prompt, its deepest point and box as prompts.
    In object views (``object_views``) a view is kept while the mask stays well inside it (so
    that upcoming slices are encoded ENCODE_CHUNK at a time) and re-centred when it nears an edge.
    It ends where another run already wrote (``written``, which it adds its slices to).
    -> (canonical slices written, (slice, reason) where a stop rule ended it or None at the range's end)."""
    plane, box2d = prompt.plane, prompt.box2d
    done: list[int] = []
    spacing = slice_pixel_spacing(session.spacing, plane)
    window = seed_window
    prev_mask, prev_low = seed.mask, seed.low_res
    low_window = seed_window  # the view prev_low's logits are in
    prev_area = int(prev_mask.sum())
    max_area = policy.GROW_TOTAL * max(prev_area, policy.MIN_AREA) if box2d is None else np.inf
    pad_fraction, pad_mm = policy.BOX_PAD["roi" if box2d is not None else "free"]
    pad_px = max(1.0, pad_mm / float(np.mean(spacing)))
    rows, cols = prev_mask.shape
    seed_intensity = region_intensity(session, plane, prompt.start, prev_mask)
    name_embs = seed_name = None
    if policy.TOP_K is not None and len(session.engine.vocab_embeddings):
        name_embs = session.engine.concept_embeddings(None)[1].float()
        seed_name = int(torch.argmax(name_embs @ seed.region.float()))
    idx = prompt.start + direction
    lo, hi = limits
    while lo <= idx <= hi:
        if idx in written:
            return done, (idx, "joined")
        bounds = mask_extent(prev_mask)
        if session.views != "prompt" or not object_views:
            window = session.context_window(plane)
        elif window is None or not keeps_view(window, bounds, spacing):
            window = object_window(bounds, spacing, scale=policy.PROPAGATION_VIEW_SCALE)
        if window != low_window:
            # the previous answer's logits are in another view (a click refined in its object view, or a
            # re-centred view): its mask, re-drawn in this view, is the mask prompt (docs/DESIGN-NOTES.md)
            prev_low = session.grid(plane, window).slice_mask_to_low_res(
                prev_mask, session.engine.cfg.image_size // 4)[None, None]
        ahead = [i for i in range(idx, idx + direction * policy.ENCODE_CHUNK, direction) if lo <= i <= hi]
        session.features(plane, ahead, window)
        r, c = deepest_point(prev_mask)
        clicks = prompt.by_slice.get(idx, [])
        pts = [(float(c), float(r), 1)] + clicks
        ys, xs = np.nonzero(prev_mask)
        pad_y, pad_x = pad_px + pad_fraction * (ys.max() - ys.min()), pad_px + pad_fraction * (xs.max() - xs.min())
        box = (max(0.0, xs.min() - pad_x), max(0.0, ys.min() - pad_y), min(cols - 1.0, xs.max() + pad_x),
               min(rows - 1.0, ys.max() + pad_y))
        res = session.predict_slice(plane, idx, pts, box, None, prev_low, window=window)
        if policy.CORRECT_CLICKED_SLICES and box2d is None and _misses_a_click(res.mask, clicks):
            # a positive click left out (the box drawn from the previous slice kept the model away): answered once
            # more as a 2D correction is, the slice's own logits fed back, no box. Not inside an ROI, whose looser
            # box and in-plane clip serve its corrections better (docs/DESIGN-NOTES.md, "3D correction clicks")
            res = session.predict_slice(plane, idx, pts, None, None, res.low_res, window=window)
        m = _inside_box(res.mask, box2d)  # an ROI bounds the region in-plane too
        area = int(m.sum())
        reason = _stop_rule(res, area, prev_area, max_area, name_embs, seed_name)
        if reason is None and policy.INTENSITY_DRIFT is not None and area \
                and abs(region_intensity(session, plane, idx, m) - seed_intensity) > policy.INTENSITY_DRIFT:
            reason = "intensity"
        if reason is not None:
            return done, (idx, reason)
        insert_slice(canon_mask, plane, idx, m)
        if canon_unc is not None:
            insert_slice(canon_unc, plane, idx, uncertainty_map(res.logits))
        done.append(idx)
        written.add(idx)
        prev_mask, prev_low, prev_area, low_window = m, res.low_res, area, window
        idx += direction
    return done, None


def _stop_rule(res: SliceResult, area: int, prev_area: int, max_area: float, name_embs: torch.Tensor | None,
               seed_name: int | None) -> str | None:
    """The first stop rule a propagated slice breaks, or None."""
    if res.score < policy.STOP_SCORE:
        return "quality"
    if area < max(policy.MIN_AREA, policy.SHRINK * prev_area):
        return "vanished"
    if area > min(policy.GROW * max(prev_area, policy.MIN_AREA), max_area):
        return "grew"
    if name_embs is not None and policy.TOP_K is not None \
            and _rank_of(name_embs @ res.region.float(), seed_name) >= policy.TOP_K:
        return "name"
    return None


def region_intensity(session: "Session", plane: str, idx: int, mask: np.ndarray) -> float:
    """Mean normalised intensity (0..1) of a slice's region."""
    return float(extract_slice(session.canon, plane, idx)[mask].mean()) if mask.any() else 0.0


def describe_stop(session: "Session", plane: str, direction: int, done: list[int],
                  stop: tuple[int, str] | None) -> dict[str, Any]:
    """Where and why one direction of a propagation ended (input-image slice indices), with a warning
    when it ended for another reason than the structure coming to its end."""
    name = policy.PROPAGATION_DIRECTIONS[plane][direction]
    out: dict[str, Any] = {"direction": name, "slices": len(done)}
    if stop is None:
        out["reason"] = "reached the end of the image or ROI"
        return out
    idx, reason = stop
    out["stopped_at_slice"] = session.input_slice_index(plane, idx)
    out["reason"] = policy.stop_reason(reason)
    if reason not in ("vanished", "joined"):
        out["warning"] = (f"propagation {name} stopped at slice {out['stopped_at_slice']} after {len(done)} "
                          f"slice(s): {out['reason']}")
    return out


def _rank_of(scores: torch.Tensor, index: int) -> int:
    """0 for the highest score: how many entries score above ``scores[index]``."""
    return int((scores > scores[index]).sum())


def deepest_point(mask: np.ndarray, max_side: int = 128) -> tuple[int, int]:
    """(row, col) deep inside a non-empty 2D mask. The distance transform runs on every s-th pixel (s such
    that the grid is at most ``max_side`` across): the propagation seed needs depth, not pixel precision, and a
    full-resolution EDT of a 512 x 512 slice would cost about as much as the model call."""
    step = max(1, int(np.ceil(max(mask.shape) / max_side)))
    point = max_edt_point(mask[::step, ::step]) if step > 1 else None
    if point is None:  # a thin region that the subsampling missed
        return max_edt_point(mask)
    return point[0] * step, point[1] * step

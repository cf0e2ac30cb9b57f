"""Recognition and retrieval on a session: region embeddings (from a mask or a prompt), ranked names, and text
-> region search (``find``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

from ..data.geometry import extract_slice, plane_axes
from ..data.masks import largest_slices, max_edt_point
from ..data.slices import Window
from ..data.views import mask_extent, zoomed_window
from ..data.vocabulary import resolve
from ..errors import PromptError
from ..model.medpclip import Prompts, SliceFeatures
from ..model.region_geometry import BodyFrame, body_frame, region_geometry
from . import policy
from .prompt import PromptSpec
from .results import SegmentationResult

if TYPE_CHECKING:
    from .session import Session

GEOMETRY_FRAMES_KEPT = 16  # slices (256 KB each at model resolution)


def region_embedding(session: "Session", mask: np.ndarray | None, prompt: PromptSpec | dict | None, plane: str,
                     max_slices: int) -> torch.Tensor:
    """(E,) from a mask (its ``max_slices`` largest slices averaged), a prompt, or neither (the global one)."""
    if mask is not None:
        canon = session.canonical_mask(mask)
        order = largest_slices(canon, 2 - plane_axes(plane)[0], max_slices)
        if not order:
            raise PromptError("the mask is empty: nothing to identify")
        return F.normalize(torch.stack([_mask_embedding(session, plane, i, extract_slice(canon, plane, i),
                                                        policy.IDENTIFY_VIEW_ZOOMS)
                                        for i in order]).mean(0), dim=0)
    if prompt is not None:
        spec = prompt if isinstance(prompt, PromptSpec) else PromptSpec.from_dict(prompt)
        spec = PromptSpec(**{**spec.__dict__, "mode": "3d"})  # points may lie on several slices
        resolved = session.resolve(spec)
        decode = session.engine.uses_geometry  # the geometry term needs the region's mask: the prompt's answer
        res = session.predict_slice(spec.plane, resolved.start, resolved.points, resolved.box2d, None, None,
                                    with_masks=decode)
        region = _over_framings(session, spec.plane, policy.IDENTIFY_VIEW_ZOOMS, lambda w: session.predict_slice(
            spec.plane, resolved.start, resolved.points, resolved.box2d, None, None, with_masks=False, window=w).region,
            res.region)
        return with_geometry(session, region, spec.plane, resolved.start, res.mask) if decode else region
    n = session.n_slices(plane)
    ones = np.ones(extract_slice(session.canon, plane, 0).shape, bool)
    return session.predict_slice(plane, n // 2, [], None, ones, None, with_masks=False).region


def _mask_embedding(session: "Session", plane: str, idx: int, mask2d: np.ndarray,
                    zooms: tuple[float, ...] = ()) -> torch.Tensor:
    """(E,) region embedding of a 2D mask on one slice (the mask as the region prompt, no mask decoding), in the
    slice's context view and averaged with its copies zoomed by ``zooms``; the geometry term from the context view."""
    region = _over_framings(session, plane, zooms, lambda w: session.predict_slice(
        plane, idx, [], None, mask2d, None, with_masks=False, window=w).region)
    return with_geometry(session, region, plane, idx, mask2d)


def _over_framings(session: "Session", plane: str, zooms: tuple[float, ...],
                   embed: Callable[[Window], torch.Tensor], in_context: torch.Tensor | None = None) -> torch.Tensor:
    """The region embedding ``embed(view)`` in the slice's context view (``in_context`` when the caller has it),
    averaged with its copies zoomed by ``zooms`` (``policy.IDENTIFY_VIEW_ZOOMS``): naming moves with how much of
    the view the body fills, and the mean over framings is steadier."""
    context = session.context_window(plane)
    regions = [in_context if in_context is not None else embed(context)]
    regions += [embed(zoomed_window(context, z)) for z in zooms]
    return regions[0] if len(regions) == 1 else F.normalize(torch.stack(regions).mean(0), dim=-1)


def with_geometry(session: "Session", region: torch.Tensor, plane: str, idx: int, mask2d: np.ndarray) -> torch.Tensor:
    """The region embedding with its geometry term (where ``mask2d``, in slice pixels, lies in the body and how it
    looks against it), computed on the slice's context view, the frame the head was trained in; unchanged for a
    checkpoint without a trained geometry head or an empty mask."""
    if not session.engine.uses_geometry or not mask2d.any():
        return region
    grid = session.grid(plane, session.context_window(plane))
    return _with_geometry_batch(session, region[None], plane, idx, (grid.mask_to_model(mask2d) > 0.5)[None])[0]


def _with_geometry_batch(session: "Session", regions: torch.Tensor, plane: str, idx: int,
                         masks: torch.Tensor) -> torch.Tensor:
    """``with_geometry`` for regions (B, E) and their (B, S, S) bool masks on the model grid of a slice's context
    view (unchanged without a trained geometry head)."""
    if not session.engine.uses_geometry:
        return regions
    image, frame = _context_frame(session, plane, idx)
    is_ct = session.volume.modality.upper() == "CT"
    ring, shape = session.model.reads_ring, session.model.reads_shape
    geometry = torch.stack([region_geometry(image, m.cpu(), is_ct, frame, ring, shape) for m in masks])
    with torch.inference_mode():
        return session.model.with_geometry(regions.to(session.engine.device), geometry).float()


def _context_frame(session: "Session", plane: str, idx: int) -> tuple[torch.Tensor, BodyFrame]:
    """The slice's context view at model resolution and its body frame, kept for the slices named last (naming
    a click then costs the region's own features only: about 1 ms less, docs/RESULTS.md "Naming")."""
    key = (plane, idx)
    frames = session.geometry_frames
    if key not in frames:
        grid = session.grid(plane, session.context_window(plane))
        image = grid.image_to_model(extract_slice(session.canon, plane, idx))
        frames[key] = (image, body_frame(image))
        while len(frames) > GEOMETRY_FRAMES_KEPT:
            frames.popitem(last=False)
    frames.move_to_end(key)
    return frames[key]


def name_together(session: "Session", masks: Sequence[np.ndarray], vocabulary: list[str] | None,
                  top_k: int) -> list[dict[str, Any]]:
    """Names for several regions of one image at once, a different name each: the segments of one segmentation are
    different structures, and naming each alone lets two of them take the same likely name (both kidneys "left
    kidney", every sub-region of an unseen tumour "edema"). Each region is ranked as ``identify`` ranks a mask; the
    names chosen together maximise the product of their probabilities (an assignment, Hungarian method). Where there
    are more regions than names, the regions left over keep their own best name. Per region: the chosen candidate
    (``id``, ``name``, ``score`` = its probability, codes), ``alone`` (the best name by itself) and ``ranking``
    (its own top ``top_k``)."""
    if not len(masks):
        raise PromptError("no regions to name")
    for n, mask in enumerate(masks):
        if not np.asarray(mask).any():
            raise PromptError(f"region {n + 1} of {len(masks)} is empty: nothing to name")
    return _assigned([_every_name(session, mask, vocabulary) for mask in masks], top_k)


def name_embeddings_together(session: "Session", regions: Sequence[torch.Tensor], vocabulary: list[str] | None,
                             top_k: int) -> list[dict[str, Any]]:
    """``name_together`` for regions whose embeddings are computed already (``region_embedding`` of each mask):
    the benchmark names a slice's items alone and together from one embedding each."""
    if not len(regions):
        raise PromptError("no regions to name")
    return _assigned([_rank_every_name(session, region, vocabulary) for region in regions], top_k)


def name_label_values(session: "Session", labels: np.ndarray, vocabulary: list[str] | None,
                      top_k: int) -> list[dict[str, Any]]:
    """Every value of a label map ([k, j, i], the image's grid) named at once (as ``name_together``), each answer
    with its ``value``; one value's mask at a time in memory (a label map of a hundred structures is common)."""
    labels = np.asarray(labels)
    values = [int(v) for v in np.unique(labels) if v]
    if not values:
        raise PromptError("the label map is empty: nothing to name")
    rankings = session.engine.worker.call(lambda: [_every_name(session, labels == v, vocabulary) for v in values])
    return [{"value": v, **c} for v, c in zip(values, _assigned(rankings, top_k))]


def _every_name(session: "Session", mask: np.ndarray, vocabulary: list[str] | None) -> list[dict[str, Any]]:
    """A region's ranking over every name of the vocabulary, as ``identify`` ranks a mask."""
    return _rank_every_name(session, session.region_embedding(mask=mask), vocabulary)


def _rank_every_name(session: "Session", region: torch.Tensor, vocabulary: list[str] | None) -> list[dict[str, Any]]:
    return session.engine.rank(region, vocabulary, 1 << 20, session.volume.modality)


def _assigned(rankings: list[list[dict[str, Any]]], top_k: int) -> list[dict[str, Any]]:
    """A different name for each ranking, maximising the product of the chosen probabilities (Hungarian method);
    rankings left over when there are fewer names keep their own best."""
    ids = [c["id"] for c in rankings[0]]
    scores = [{c["id"]: c["score"] for c in r} for r in rankings]
    probability = np.array([[score[i] for i in ids] for score in scores])
    rows, cols = linear_sum_assignment(-np.log(np.maximum(probability, 1e-12)))
    chosen = {int(r): ids[c] for r, c in zip(rows, cols)}
    return [{**next(c for c in r if c["id"] == chosen.get(n, r[0]["id"])), "alone": r[0]["name"],
             "ranking": r[:max(1, top_k)]} for n, r in enumerate(rankings)]


def find(session: "Session", text: str, mode: str, grid_points: int, max_slices: int) -> SegmentationResult:
    """Text -> the best-matching region. A grid of one-click prompts on a set of axial slices is answered in one
    batch per slice; each answer is scored by how well the text names it (first by the click's own embedding with
    the answer's geometry, the best ``policy.FIND_MASKS_NAMED_PER_SLICE`` then named from their masks); the best
    points are re-segmented as the engine answers a click in the body's view (``click_view=False``: the search was
    built and measured on those answers; session 38's view around the click lost the MR spleen and the aorta here)
    and re-ranked the same way; the winner is segmented (and propagated in 3D) when the text names it
    (``match_verdict``), else the result is "not found"."""
    t0 = time.perf_counter()
    engine = session.engine
    target = engine.text_embedding(text, session.volume.modality).float()
    plane = "axial"
    n = session.n_slices(plane)
    body = [i for i in range(n) if extract_slice(session.canon, plane, i).mean() > 0.02] or list(range(n))
    step = max(1, len(body) // max_slices)
    candidates = body[::step][:max_slices]
    context = session.context_window(plane)
    grid = session.grid(plane, context)
    x0, y0, x1, y1 = context
    found_points = []  # (score, slice, (x, y), region embedding): the best points of each slice
    for idx in candidates:
        img = extract_slice(session.canon, plane, idx)
        ys = y0 + (np.arange(grid_points) + 0.5) * (y1 - y0) / grid_points
        xs = x0 + (np.arange(grid_points) + 0.5) * (x1 - x0) / grid_points
        pts = _foreground_points(img, xs, ys)
        if not pts:
            continue
        scores, regions = _score_grid_points(session, idx, pts, grid, target, text)
        for j in torch.argsort(scores, descending=True)[:policy.FIND_POINTS_PER_SLICE].tolist():
            if torch.isfinite(scores[j]):
                found_points.append((float(scores[j]), idx, pts[j], regions[j]))
    if not found_points:
        raise PromptError("the image has no foreground to search")
    found_points.sort(key=lambda c: -c[0])
    best = _best_by_mask(session, found_points[:policy.FIND_REFINE_CANDIDATES], target, text)
    if policy.FIND_LOCAL_GRID_POINTS and best[4] is not None:
        best = _local_search(session, best, grid, target, text)
    _, idx, (x, y), region, _ = best
    verdict = match_verdict(engine, region, target, text)
    timing = {"find_total_ms": (time.perf_counter() - t0) * 1000, "similarity": float(region @ target)}
    if not verdict["found"]:
        shape = session.volume.array.shape
        return SegmentationResult(np.zeros(shape, np.uint8), 0.0, plane, session.input_slice_index(plane, idx), [],
                                  timing, warnings=[f"not found: nothing in the image matches {text!r} ("
                                                    f"{_verdict_reason(verdict)}; it looks like "
                                                    f"{verdict['region_name']!r})"], found=verdict)
    result = session.segment(_click(session, idx, x, y, mode), feedback=False, click_view=False,
                             object_view_propagation=policy.FIND_PROPAGATION_OBJECT_VIEW)
    timing["find_total_ms"] = (time.perf_counter() - t0) * 1000
    result.latency_ms.update(timing)
    result.found = verdict
    result.alternative = None  # the search's own click: a found region has no other answers to step through
    return result


def _foreground_points(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    """The grid points (x, y) of ``xs`` x ``ys`` (slice pixels) that lie on the slice and on foreground (not air).
    A context view can reach past the slice's edge (its padding): those points are not foreground, and indexing
    with them failed (past the end) or wrapped round to the other side (negative)."""
    rows, cols = img.shape
    return [(float(x), float(y)) for y in ys for x in xs
            if 0 <= x < cols and 0 <= y < rows and img[int(y), int(x)] > 0.05]


def _verdict_reason(verdict: dict) -> str:
    if verdict["rank"] > policy.FIND_MAX_RANK:
        return f"the best-matching region ranks it {verdict['rank'] + 1}th"
    return f"the best-matching region gives it probability {verdict['probability']:.2f}"


def _click(session: "Session", idx: int, x: float, y: float, mode: str) -> dict:
    """A one-click prompt at canonical axial slice ``idx``, pixel (x, y)."""
    ijk = session.geometry.to_input_ijk(np.array([x, y, idx], dtype=float))[0]
    return {"space": "ijk", "points": [ijk.tolist()], "point_labels": [1], "mode": mode}


def _score_grid_points(session: "Session", idx: int, pts: list, grid, target: torch.Tensor, text: str):
    """Scores (B,) and region embeddings (B, E) of one-click prompts at slice pixels ``pts`` of axial slice ``idx``
    (its context view), answered in one batch. Every answer is scored by the click's own region embedding with the
    answer's geometry; the best ``policy.FIND_MASKS_NAMED_PER_SLICE`` are then named from their masks (the
    recognition the model is aligned for) and only they keep a finite score (an empty answer: -inf)."""
    engine, model = session.engine, session.model
    feats = session.features("axial", [idx])[0]
    xy = torch.tensor(grid.to_model_xy(np.array(pts)), dtype=torch.float32, device=engine.device)
    clicks = Prompts(xy[:, None], torch.ones(len(pts), 1, dtype=torch.long, device=engine.device))
    with torch.inference_mode(), session.autocast():
        out = model.prompted(_repeat(feats, len(pts)), clicks, with_masks=True)
    masks = _answers_in_model_grid(model, out, grid)
    empty = ~masks.flatten(1).any(1)
    regions = _with_geometry_batch(session, out.region_embedding.float(), "axial", idx, masks[:, 0])
    first = target_scores(engine, regions, target, text).masked_fill(empty, -torch.inf)
    named = torch.argsort(first, descending=True)[:policy.FIND_MASKS_NAMED_PER_SLICE]
    named = named[~empty[named]]
    scores = torch.full_like(first, -torch.inf)
    if len(named):
        with torch.inference_mode(), session.autocast():
            emb = model.prompted(_repeat(feats, len(named)), Prompts(region_mask=masks[named].float()),
                                 with_masks=False).region_embedding
        regions = regions.clone()
        regions[named] = _with_geometry_batch(session, emb.float(), "axial", idx, masks[named, 0])
        scores[named] = target_scores(engine, regions[named], target, text)
    return scores, regions


def _repeat(feats: SliceFeatures, b: int) -> SliceFeatures:
    """One slice's features as a batch of ``b`` (views, no copies)."""
    return SliceFeatures(feats.tokens.expand(b, -1, -1), feats.fine.expand(b, -1, -1, -1))


def _answers_in_model_grid(model, out, grid) -> torch.Tensor:
    """The single-click answer of each prompt of a batch as (B, 1, S, S) bool masks on the model grid (nothing in
    the grid's zero padding)."""
    choice = out.choice
    k = [model.answer_index(out.iou[i].float(), True, choice[i] if choice is not None else None)
         for i in range(out.iou.shape[0])]
    low = out.masks[torch.arange(len(k)), torch.tensor(k)][:, None].float()
    masks = F.interpolate(low, size=(grid.size, grid.size), mode="bilinear", align_corners=False) > 0
    masks[..., grid.h:, :] = False
    masks[..., :, grid.w:] = False
    return masks


def _name_logits(engine, regions: torch.Tensor, target: torch.Tensor, text: str):
    """Scaled similarities (B, K + 1) of ``regions`` (B, E) with the vocabulary's K names other than the text's own
    concept, then with the text itself (last column), and those K names."""
    concepts, embs = engine.concept_embeddings(None)
    own = resolve(text, strict=False).id
    keep = [i for i, c in enumerate(concepts) if c["id"] != own]
    others = [concepts[i] for i in keep]
    regions = regions.float()
    with torch.inference_mode():
        scale = engine.model.logit_scale.exp().clamp(max=100).float()
        return scale * torch.cat([regions @ embs[keep].float().T, (regions @ target)[:, None]], dim=1), others


def target_scores(engine, regions: torch.Tensor, target: torch.Tensor, text: str) -> torch.Tensor:
    """(B,) how well ``text`` names each of ``regions`` (B, E): the log-probability of the text among the
    vocabulary's names for the region (the text's own concept counted once). Unlike the raw similarity, it
    discounts regions that look like everything (docs/DESIGN-NOTES.md, "Find")."""
    logits, _ = _name_logits(engine, regions, target, text)
    return torch.log_softmax(logits, dim=1)[:, -1]


def _local_search(session: "Session", best: tuple, grid, target: torch.Tensor, text: str) -> tuple:
    """A finer grid of clicks over the best answer's extent (grown by half of it each way) on its slice, scored
    like the search, its best points re-ranked with the best answer by their masks: the coarse grid's points lie
    about a tenth of the body apart, wider than a small structure such as the aorta, so its best point often sits
    beside the structure and segments a neighbour with it."""
    _, idx, _, _, mask2d = best
    x0, y0, x1, y1 = mask_extent(mask2d)
    gx, gy = (x1 - x0 + 1) / 2, (y1 - y0 + 1) / 2
    n = policy.FIND_LOCAL_GRID_POINTS
    rows, cols = mask2d.shape
    img = extract_slice(session.canon, "axial", idx)
    xs = np.clip(np.linspace(x0 - gx, x1 + gx, n), 0, cols - 1)
    ys = np.clip(np.linspace(y0 - gy, y1 + gy, n), 0, rows - 1)
    pts = _foreground_points(img, xs, ys)
    if not pts:
        return best
    scores, regions = _score_grid_points(session, idx, pts, grid, target, text)
    # the best answer goes in again, clicked at its deepest point (the click find segments in the end), which may
    # answer differently from the grid point it was found with
    local = [(float(scores[j]), idx, pts[j], regions[j])
             for j in torch.argsort(scores, descending=True)[:policy.FIND_POINTS_PER_SLICE].tolist()
             if torch.isfinite(scores[j])]
    return _best_by_mask(session, [best[:4]] + local, target, text)


def _best_by_mask(session: "Session", candidates: list, target: torch.Tensor, text: str):
    """Re-rank the best points by what they segment: each point's 2D mask, named from the mask (the recognition
    the model is aligned for, scored by ``target_scores``), and its deepest point as the click (a grid point may
    sit on an organ's edge). -> (score, slice, (x, y), region embedding, 2D mask or None) of the best."""
    best = None
    for _, idx, (x, y), _ in candidates:
        res = session.segment(_click(session, idx, x, y, "2d"), feedback=False, click_view=False)
        # the answer lies on slice idx: read it through the canonical view (no full-volume copy)
        mask2d = extract_slice(session.orient.array_to_canonical(res.mask), "axial", idx) > 0
        if not mask2d.any():
            continue
        region = F.normalize(_mask_embedding(session, "axial", idx, mask2d), dim=0).float()
        score = float(target_scores(session.engine, region[None], target, text)[0])
        if best is None or score > best[0]:
            r, c = max_edt_point(mask2d)
            best = (score, idx, (float(c), float(r)), region, mask2d)
    if best is None:  # no candidate segments anything: keep the grid search's best
        return (*candidates[0], None)
    return best


def match_verdict(engine, region: torch.Tensor, target: torch.Tensor, text: str) -> dict:
    """Whether ``text`` names ``region``: its rank among the vocabulary's names for the region (the text's own
    concept, when it is one, counted once) at most ``policy.FIND_MAX_RANK`` and its probability at least
    ``policy.FIND_MIN_PROBABILITY``, with the region's top name."""
    logits, others = _name_logits(engine, region[None], target, text)
    probs = torch.softmax(logits[0], 0)
    rank = int((probs[:-1] > probs[-1]).sum())
    top = others[int(torch.argmax(probs[:-1]))]["name"] if others else text
    probability = round(float(probs[-1]), 4)
    return {"found": rank <= policy.FIND_MAX_RANK and probability >= policy.FIND_MIN_PROBABILITY, "rank": rank,
            "probability": probability, "region_name": top if rank > 0 else text}

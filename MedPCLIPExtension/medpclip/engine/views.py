"""Which view of a slice answers a prompt (docs/DESIGN-NOTES.md, "Prompt-centred views"): a correction keeps
its object's view and feeds the previous logits back; a box or a prior mask is answered in a view around it;
a new click is answered in a square view around it (``policy.CLICK_VIEW_MM``), checked against the body's context
view's answer; where that view does not hold its answer, the body's view answers, then once more a view around that
first answer; strokes, whose extent shows the object's, in one pass in a view around them (else as clicks)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.geometry import extract_slice, slice_pixel_spacing
from ..data.slices import Window, square_window
from ..data.views import mask_extent, object_window, union_bounds, window_side_mm
from . import policy
from .results import ClickHistory, SliceResult
from .stroke_edges import refine_to_strokes
from .strokes import NEGATIVE, POSITIVE, fenced

if TYPE_CHECKING:
    from .session import Session

FLIPPED_LOGIT = 0.05  # |logit| of a pixel the stroke refinement moved across the boundary (probability ~0.51)
Points = list[tuple[float, float, int]]


def answer_slice(session: "Session", plane: str, idx: int, points: Points, box2d: tuple | None,
                 prior2d: np.ndarray | None, hist: ClickHistory | None, strokes2d: np.ndarray | None = None,
                 click_view: bool = True, alternative: int = 0) -> tuple[SliceResult, Window]:
    """The answer to one slice's prompt and the view it was answered in (``strokes2d``: the slice's painted
    strokes, 1 positive / 2 negative, drawn into every pass's dense prompt map; ``click_view=False``: a new click's
    first pass in the body's view whatever ``policy.CLICK_VIEW_MM`` says; ``alternative``: a new click's
    next-best answer in each of its passes, see ``MedPCLIP.answer_index``)."""
    users_box = box2d is not None and prior2d is None  # its passes may be answered by the checkpoint's box output

    def predict(*args, **kwargs) -> SliceResult:  # every pass of this prompt sees the same painted strokes
        return session.predict_slice(*args, strokes2d=strokes2d, users_box=users_box, **kwargs)

    spacing = slice_pixel_spacing(session.spacing, plane)
    low = session.engine.cfg.image_size // 4
    point_bounds = union_bounds(*[(p[0], p[1], p[0], p[1]) for p in points if p[2] == 1])
    if hist is not None:  # a correction: same object
        window, prev = hist.window, hist.low_res
        xy = np.array([(p[0], p[1]) for p in points])
        if not session.grid(plane, window).contains(xy, margin=2):  # the click left the view: widen it
            window = object_window(union_bounds(mask_extent(hist.mask), point_bounds), spacing)
            prev = session.grid(plane, window).slice_mask_to_low_res(hist.mask, low)[None, None]
        return predict(plane, idx, points, box2d, prior2d, prev, window=window), window
    context = session.context_window(plane)
    in_context = session.views != "prompt" or (not policy.BOX_OBJECT_VIEW and (box2d is not None or prior2d is not None))
    if in_context:  # every prompt in the context view (ablations, the first release's behaviour)
        prev = None if prior2d is None else session.grid(plane, context).slice_mask_to_low_res(prior2d, low)[None, None]
        return predict(plane, idx, points, box2d, prior2d, prev, window=context), context
    if box2d is not None or prior2d is not None:
        bounds = union_bounds(box2d, mask_extent(prior2d) if prior2d is not None else None, point_bounds)
        window = object_window(bounds, spacing)
        # the context view's answer too, the higher rated wins (both views in one batch); not for a box alone with
        # the checkpoint's box output
        by_box_output = users_box and not points and int(session.model.box_output)
        views = [window, context] if policy.BOX_PICK_BY_SCORE and not by_box_output else [window]
        prev = None if prior2d is None else torch.cat(
            [session.grid(plane, w).slice_mask_to_low_res(prior2d, low)[None, None] for w in views])
        answers = session.predict_views(plane, idx, points, views, box2d, prior2d, prev, strokes2d=strokes2d,
                                        users_box=users_box)
        best = max(range(len(views)), key=lambda n: (answers[n].score, -n))  # a tie: the object view's
        return answers[best], views[best]
    if strokes2d is not None and policy.STROKE_VIEW_SCALE is not None:
        answer = _answer_in_strokes_view(plane, idx, points, point_bounds, strokes2d, spacing, context, predict)
        if answer is not None:
            return answer
    return _answer_new_click(session, plane, idx, points, point_bounds, spacing, context, predict,
                             click_view and strokes2d is None, strokes2d is None, alternative)


def _answer_new_click(session: "Session", plane: str, idx: int, points: Points, point_bounds: tuple | None,
                      spacing: tuple[float, float], context: Window, predict, click_view: bool,
                      clicks_only: bool, alternative: int = 0) -> tuple[SliceResult, Window]:
    """A new object's clicks (``clicks_only``: no painted strokes): in the click's view and the body's view (one
    batch), the click view's answer kept unless a check gives the body's view's answer the win; else the body's view
    alone; the body's view's answer then refined once in a view around it."""
    checks = policy.CLICK_VIEW_SAME_TISSUE is not None or policy.CLICK_VIEW_GREW_RATIO is not None
    local = whole = None
    window = click_view_window(point_bounds, spacing, context) \
        if click_view and policy.CLICK_VIEW_MM is not None else None
    if window is not None:  # each view's pass asks that view's click choice head (when the checkpoint has one)
        if checks:  # the body's view answers too: both views in one batch
            in_view, whole = session.predict_views(plane, idx, points, [window, context], choose=[True, True],
                                                   rank=alternative)
        else:
            in_view = predict(plane, idx, points, None, None, None, window=window, choose=True, rank=alternative)
        if in_view.mask.any() and not touches_border(in_view.mask, window):
            local = in_view, window  # else the object is larger than the view (or missed): the body's view answers
    first, first_view = local if local is not None else (None, context)
    if whole is None and (first is None or checks):
        # the click choice head was fitted on clicks alone: strokes' first pass keeps the IoU head's pick
        whole = predict(plane, idx, points, None, None, None, window=context, choose=clicks_only, rank=alternative)
    if whole is not None and (first is None or is_fragment_of(first.mask, whole.mask, extract_slice(
            session.canon, plane, idx)) or grew_past(first.mask, whole.mask)):
        first, first_view = whole, context
    if local is not None and first is whole and not policy.REFINE_WON_CHECK:
        answer, view = first, first_view
    else:
        answer, view = _refined(session, plane, idx, points, point_bounds, spacing, context, first, first_view, predict)
    if whole is not None and clicks_only and policy.NAME_CLICK_IN_BODY_VIEW:
        answer = dataclasses.replace(answer, region=whole.region)  # the click's name sees the whole body
    return answer, view


def _refined(session: "Session", plane: str, idx: int, points: Points, point_bounds: tuple | None,
             spacing: tuple[float, float], context: Window, first: SliceResult, first_view: Window,
             predict) -> tuple[SliceResult, Window]:
    """A click's first answer refined once in a view around it (FocalClick's zoom-in), or the first answer where
    that view would not be smaller than the body's, or would cut or shrink the answer."""
    if first_view is not context and not policy.CLICK_VIEW_REFINE:
        return first, first_view
    first_mask = first.mask
    window = object_window(union_bounds(mask_extent(first_mask), point_bounds), spacing)
    if fills_body_view(window, context, spacing, policy.REFINE_SKIP_SHARE):
        return first, first_view  # the object fills much of the body's view already: a closer view adds little
    prev = None
    if policy.REFINE_FEEDBACK:
        low = session.engine.cfg.image_size // 4
        prev = session.grid(plane, window).slice_mask_to_low_res(first_mask, low)[None, None]
    refined = predict(plane, idx, points, None, None, prev, window=window)
    refined_mask = refined.mask
    if policy.BORDER_GUARD and touches_border(refined_mask, window):
        return first, first_view  # the view cut the object: the first answer was too small to frame it
    if refined_mask.sum() < policy.REFINE_MIN_KEEP * first_mask.sum():
        return first, first_view  # zoomed onto a part of a large object: the refining pass is to sharpen, not shrink
    return refined, window


def _answer_in_strokes_view(plane: str, idx: int, points: Points, point_bounds: tuple | None, strokes2d: np.ndarray,
                            spacing: tuple[float, float], context: Window, predict) -> tuple[SliceResult, Window] | None:
    """One pass in a view around the positive strokes and the positive clicks (``point_bounds``); None where that
    view would not frame the object (it cuts the answer, or it is as large as the body's view): then the click's two
    passes answer."""
    bounds = union_bounds(mask_extent(strokes2d == 1), point_bounds)
    if bounds is None:
        return None
    window = object_window(bounds, spacing, scale=policy.STROKE_VIEW_SCALE)
    if fills_body_view(window, context, spacing):
        return None
    answer = predict(plane, idx, points, None, None, None, window=window)
    if touches_border(answer.mask, window):
        return None
    return answer, window


def click_view_window(point_bounds: tuple | None, spacing: tuple[float, float], context: Window) -> Window | None:
    """A new click's view: a square of ``policy.CLICK_VIEW_MM`` around the positive clicks; None where there are
    none, or that view is not smaller than the body's (REFINE_MAX_SHARE)."""
    if point_bounds is None:
        return None
    cx, cy = (point_bounds[0] + point_bounds[2]) / 2, (point_bounds[1] + point_bounds[3]) / 2
    window = square_window(cx, cy, policy.CLICK_VIEW_MM, spacing)
    return None if fills_body_view(window, context, spacing) else window


def is_fragment_of(part: np.ndarray, whole: np.ndarray, image: np.ndarray) -> bool:
    """Whether ``whole`` is the object ``part`` is a piece of: over ``policy.CLICK_VIEW_WHOLE_RATIO`` x its area,
    holding over half of it, and the rest of the same intensity as ``part`` (medians apart by under
    ``policy.CLICK_VIEW_SAME_TISSUE`` x ``part``'s interquartile range + 0.02, on the normalised slice). A small
    organ answered with its neighbour in the body's view differs from that neighbour; a liver cut by a view does not."""
    if policy.CLICK_VIEW_SAME_TISSUE is None:
        return False
    rest = whole & ~part
    area = int(part.sum())
    if not area or whole.sum() <= policy.CLICK_VIEW_WHOLE_RATIO * area or (whole & part).sum() <= 0.5 * area:
        return False
    q1, median, q3 = np.percentile(image[part], [25, 50, 75])
    return abs(float(np.median(image[rest])) - median) < policy.CLICK_VIEW_SAME_TISSUE * (q3 - q1 + 0.02)


def grew_past(local: np.ndarray, whole: np.ndarray) -> bool:
    """Whether the click view's answer ``local`` grew past the object the body's view found (``whole``): over
    ``policy.CLICK_VIEW_GREW_RATIO`` x its area and holding over half of it."""
    if policy.CLICK_VIEW_GREW_RATIO is None:
        return False
    area = int(whole.sum())
    return bool(area) and local.sum() > policy.CLICK_VIEW_GREW_RATIO * area and (local & whole).sum() > 0.5 * area


def fills_body_view(window: Window, context: Window, spacing: tuple[float, float], share: float | None = None) -> bool:
    """Whether ``window``'s side is over ``share`` (default ``policy.REFINE_MAX_SHARE``) of the body's view's side:
    then it shows the object no (or barely) closer than the body's view does, and the body's view's answer stands."""
    share = policy.REFINE_MAX_SHARE if share is None else share
    return window_side_mm(window, spacing) > share * window_side_mm(context, spacing)


def keeps_view(window: Window, bounds: tuple, spacing: tuple[float, float]) -> bool:
    """Whether a propagated mask with inclusive ``bounds`` is still well framed by ``window``: inside it with
    a margin of 10 % of its side, and not shrunk below a third of what a fresh object view would frame."""
    x0, y0, x1, y1 = window
    mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    inside = bounds[0] >= x0 + mx and bounds[2] <= x1 - 1 - mx and bounds[1] >= y0 + my and bounds[3] <= y1 - 1 - my
    fresh = window_side_mm(object_window(bounds, spacing), spacing)
    return inside and fresh >= window_side_mm(window, spacing) / 3


def touches_border(mask: np.ndarray, window: Window, margin: int = 1) -> bool:
    """Whether a slice mask reaches the edge of ``window`` (where the window lies inside the slice)."""
    rows, cols = mask.shape
    x0, y0, x1, y1 = window
    edges = []
    if x0 > 0:
        edges.append(mask[max(0, y0):min(rows, y1), x0:x0 + margin + 1])
    if x1 < cols:
        edges.append(mask[max(0, y0):min(rows, y1), x1 - 1 - margin:x1])
    if y0 > 0:
        edges.append(mask[y0:y0 + margin + 1, max(0, x0):min(cols, x1)])
    if y1 < rows:
        edges.append(mask[y1 - 1 - margin:y1, max(0, x0):min(cols, x1)])
    return any(e.any() for e in edges)


def answer_strokes(session: "Session", plane: str, idx: int, clicks: Points, tokens: Points, box2d: tuple | None,
                   prior2d: np.ndarray | None, strokes2d: np.ndarray | None = None
                   ) -> tuple[SliceResult, Window, Points]:
    """Strokes on one slice, read the way the model was trained to be prompted: the strokes' pixels in the dense
    prompt map (``strokes2d``) with the positive stroke token nearest the strokes' centre as the first click
    (unless the user clicked too), then up to ``policy.STROKE_ROUNDS`` correction clicks at the stroke tokens the
    answer gets wrong (a positive token outside the mask, a negative one inside), each feeding the previous answer
    back; with a negative stroke the answer is read at logit ``policy.STROKE_MASK_LOGIT``; then, with
    ``policy.STROKE_EDGES``, it is made to follow the image's edges and honour every stroke
    (``stroke_edges.refine_to_strokes``). -> (answer, its view, the points used)."""
    points = list(clicks)
    if not any(p[2] == 1 for p in points):
        positive = [t for t in tokens if t[2] == 1]
        if positive:
            cx, cy = np.mean([t[0] for t in positive]), np.mean([t[1] for t in positive])
            points.append(min(positive, key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2))
    res, window = answer_slice(session, plane, idx, points, box2d, prior2d, None, strokes2d)
    for _ in range(policy.STROKE_ROUNDS):
        mask = res.mask
        wrong = [t for t in tokens if t not in points and mask_at(mask, t) != (t[2] == 1)]
        if not wrong:
            break
        hist = ClickHistory(list(points), box2d, res.low_res, window, mask)
        points.append(wrong[0])
        res, window = answer_slice(session, plane, idx, points, box2d, prior2d, hist, strokes2d)
    mask = wider_where_fenced(res, points + tokens, strokes2d)
    if policy.STROKE_EDGES and strokes2d is not None:
        mask = refine_to_strokes(extract_slice(session.canon, plane, idx), mask, strokes2d,
                                 slice_pixel_spacing(session.spacing, plane))
    if mask is not res.mask:
        res = with_mask(res, mask)
    return res, window, points


def wider_where_fenced(res: SliceResult, points: Points, strokes2d: np.ndarray | None) -> np.ndarray:
    """A strokes answer read at logit ``policy.STROKE_MASK_LOGIT`` (not 0) where background strokes bound it, since
    there a wider answer cannot spill (policy.py); with ``policy.STROKE_WIDER_ONLY_FENCED`` only in the directions,
    seen from the positive strokes' centre, where a negative stroke lies beyond the pixel (``strokes.fenced``)."""
    level = policy.STROKE_MASK_LOGIT
    if level == 0:  # off: no stroke pixels to gather
        return res.mask

    def pixels(label: int, value: int) -> np.ndarray:
        """(x, y) of the points with ``label`` and of the painted pixels of ``value``."""
        xy = [np.array([(x, y) for x, y, lab in points if lab == label], float).reshape(-1, 2)]
        if strokes2d is not None:
            ys, xs = np.nonzero(strokes2d == value)
            xy.append(np.c_[xs, ys].astype(float))
        return np.concatenate(xy)

    negative = pixels(0, NEGATIVE)
    if not len(negative):
        return res.mask
    wider = (res.logits > level).numpy()
    if not policy.STROKE_WIDER_ONLY_FENCED:
        return wider
    ys, xs = np.nonzero(wider & ~res.mask)
    keep = fenced(np.c_[xs, ys], pixels(1, POSITIVE), negative)
    mask = res.mask.copy()
    mask[ys[keep], xs[keep]] = True
    return mask


def mask_at(mask: np.ndarray, point: tuple[float, float, int]) -> bool:
    """Whether the (x, y, label) point lies in ``mask`` (nearest pixel, clamped to the slice)."""
    rows, cols = mask.shape
    return bool(mask[min(rows - 1, int(round(point[1]))), min(cols - 1, int(round(point[0])))])


def with_mask(res: SliceResult, mask: np.ndarray) -> SliceResult:
    """``res`` with its slice logits moved just across zero where ``mask`` disagrees with them (those pixels read as
    uncertain); the low-resolution feedback logits stay the model's."""
    inside = torch.from_numpy(np.asarray(mask, bool))
    logits = res.logits
    moved = torch.where(inside, logits.clamp(min=FLIPPED_LOGIT), logits.clamp(max=-FLIPPED_LOGIT))
    return SliceResult(moved, res.low_res, res.score, res.region)

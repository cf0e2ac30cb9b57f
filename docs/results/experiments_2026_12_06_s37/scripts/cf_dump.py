"""Dump, for every first click of a benchmark run, the current answer and the answer of a first pass in a local
view around the click (both followed by the usual object-view refinement), with crops of image and target.
usage: cf_dump.py OUT.npz SIDE_MM -- benchmark args (use --clicks 1 --first click --no-3d)"""
import sys, pickle
import numpy as np
import medpclip.engine.session as S
import medpclip.engine.views as V
import medpclip.evaluation.runners as R
from medpclip.cli import main
from medpclip.data.geometry import extract_slice, slice_pixel_spacing
from medpclip.data.slices import square_window
from medpclip.data.views import mask_extent, object_window, union_bounds, window_side_mm
from medpclip.engine import policy

OUT, SIDE = sys.argv[1], float(sys.argv[2])
REC, CUR = [], {}
orig_sim = R.simulate
def sim(predict, target, *a, **k):
    CUR["target"] = target
    return orig_sim(predict, target, *a, **k)
R.simulate = sim
orig = S.answer_slice

def refine(session, plane, idx, points, first, first_view, context, spacing, point_bounds):
    first_mask = first.mask
    window = object_window(union_bounds(mask_extent(first_mask), point_bounds), spacing)
    if window_side_mm(window, spacing) > policy.REFINE_MAX_SHARE * window_side_mm(context, spacing):
        return first.mask, "big"
    refined = session.predict_slice(plane, idx, points, None, None, None, window=window)
    if touches(refined.mask, window):
        return first.mask, "border"
    if refined.mask.sum() < policy.REFINE_MIN_KEEP * first_mask.sum():
        return first.mask, "shrink"
    return refined.mask, "refined"
touches = V.touches_border

def hook(session, plane, idx, points, box2d, prior2d, hist, strokes2d=None):
    res = orig(session, plane, idx, points, box2d, prior2d, hist, strokes2d)
    if hist is not None or box2d is not None or prior2d is not None or strokes2d is not None or len(points) != 1:
        return res
    spacing = slice_pixel_spacing(session.spacing, plane)
    context = session.context_window(plane)
    pb = union_bounds(*[(p[0], p[1], p[0], p[1]) for p in points if p[2] == 1])
    W1 = session.predict_slice(plane, idx, points, None, None, None, window=context, choose=True)
    cx, cy = points[0][0], points[0][1]
    local = square_window(cx, cy, SIDE, spacing)
    L = session.predict_slice(plane, idx, points, None, None, None, window=local, choose=True)
    Lref, how = refine(session, plane, idx, points, L, local, context, spacing, pb)
    img = extract_slice(session.canon, plane, idx)
    tgt = CUR["target"]
    ms = dict(cur=res[0].mask, W1=W1.mask, L=L.mask, Lref=Lref, tgt=tgt)
    REC.append(dict(masks={k: np.packbits(np.asarray(v, bool)) for k, v in ms.items()}, shape=tgt.shape,
                    img=img.astype(np.float16), spacing=spacing, local=local, context=context, how=how,
                    L_border=touches(L.mask, local), point=points[0], ctx_side=window_side_mm(context, spacing),
                    local_ok=window_side_mm(local, spacing) < policy.REFINE_MAX_SHARE * window_side_mm(context, spacing),
                    Lscore=float(L.score), W1score=float(W1.score), cur_window=res[1]))
    return res
S.answer_slice = hook
cut = sys.argv.index("--")
rc = 0
try:
    rc = main(["benchmark"] + sys.argv[cut + 1:])
finally:
    # attach labels from results: order of REC = order of trials (first=click only)
    pickle.dump(REC, open(OUT, "wb"))
sys.exit(rc)

"""medpclip benchmark with a strokes answer read at logit > -T (before the edge refinement). Usage: thr.py T -- args"""
import sys
import medpclip.engine.policy as policy
import medpclip.engine.session as S
from medpclip.engine import views
from medpclip.data.geometry import extract_slice
from medpclip.cli import main

T = float(sys.argv[1]); sep = sys.argv.index("--")
orig = views.answer_strokes
def patched(session, plane, idx, clicks, tokens, box2d, prior2d, strokes2d=None):
    edges, policy.STROKE_EDGES = policy.STROKE_EDGES, False
    try:
        res, window, points = orig(session, plane, idx, clicks, tokens, box2d, prior2d, strokes2d)
    finally:
        policy.STROKE_EDGES = edges
    mask = (res.logits > -T).numpy()
    if edges and strokes2d is not None:
        mask = views.refine_to_strokes(extract_slice(session.canon, plane, idx), mask, strokes2d,
                                       views.slice_pixel_spacing(session.spacing, plane))
    return views.with_mask(res, mask), window, points
S.answer_strokes = patched
sys.argv = ["medpclip", "benchmark"] + sys.argv[sep + 1:]
main()

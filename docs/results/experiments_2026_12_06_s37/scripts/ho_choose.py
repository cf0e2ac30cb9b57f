"""benchmark_with_policy, with the click view's pass answered by the click choice head's pick (choose=True)."""
import sys, runpy
import medpclip.engine.views as V
from medpclip.data.slices import square_window
from medpclip.data.views import window_side_mm
from medpclip.engine import policy

def _answer_in_click_view(plane, idx, points, point_bounds, spacing, context, predict):
    if point_bounds is None:
        return None
    cx, cy = (point_bounds[0] + point_bounds[2]) / 2, (point_bounds[1] + point_bounds[3]) / 2
    window = square_window(cx, cy, policy.CLICK_VIEW_MM, spacing)
    if window_side_mm(window, spacing) > policy.REFINE_MAX_SHARE * window_side_mm(context, spacing):
        return None
    answer = predict(plane, idx, points, None, None, None, window=window, choose=True)
    if not answer.mask.any() or V.touches_border(answer.mask, window):
        return None
    return answer, window
V._answer_in_click_view = _answer_in_click_view
sys.argv = ["scripts/benchmark_with_policy.py"] + sys.argv[1:]
runpy.run_path("scripts/benchmark_with_policy.py", run_name="__main__")

"""bench_engine.py with policy overrides: bench_cv.py "CLICK_VIEW_MM=120.0" -- <bench_engine args>"""
import ast, sys, runpy
import medpclip.engine.policy as policy
cut = sys.argv.index("--")
for pair in sys.argv[1:cut]:
    k, _, v = pair.partition("="); setattr(policy, k, ast.literal_eval(v))
sys.argv = ["bench_engine.py"] + sys.argv[cut + 1:]
runpy.run_path("Testing/benchmarks/bench_engine.py", run_name="__main__")

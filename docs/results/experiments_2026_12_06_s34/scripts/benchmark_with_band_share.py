import sys, runpy
import medpclip.engine.stroke_edges as se
se.BAND_SHARE = float(sys.argv.pop(1))
sys.argv[0] = "scripts/benchmark_with_policy.py"
runpy.run_path("scripts/benchmark_with_policy.py", run_name="__main__")

"""bench_engine with engine rules overridden: bench_policy.py NAME=VALUE ... -- BENCH ARGS (probe)."""
import ast, runpy, sys
import medpclip.engine.policy as policy
i = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
for pair in sys.argv[1:i]:
    n, _, v = pair.partition("="); assert hasattr(policy, n), n; setattr(policy, n, ast.literal_eval(v))
sys.argv = ["bench_engine.py"] + sys.argv[i + 1:]
runpy.run_path("Testing/benchmarks/bench_engine.py", run_name="__main__")

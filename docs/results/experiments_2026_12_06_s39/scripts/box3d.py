"""The benchmark's 3D protocol alone (evaluation.runners.run_3d: a 3D box on the held-out slab's middle slice +
propagation, then 3D correction clicks), MedP-CLIP only; policy overrides NAME=VALUE. Not a test.
    box3d.py OUT.json DATA [DATA ...] [--clicks N] [--fraction F] [NAME=VALUE ...]"""
import ast, json, os, sys, numpy as np
from types import SimpleNamespace
from medpclip.engine import Engine, policy
from medpclip.evaluation.items import load_specs, case_items
from medpclip.data.cases import load_case
from medpclip.evaluation.runners import MedPCLIPRunner, run_3d
args = sys.argv[1:]; out = args.pop(0)
clicks = int(args[args.index("--clicks") + 1]) if "--clicks" in args else 9
fraction = float(args[args.index("--fraction") + 1]) if "--fraction" in args else 0.2
data = [a for i, a in enumerate(args) if not a.startswith("--") and "=" not in a and (i == 0 or not args[i - 1].startswith("--"))]
for a in args:
    if "=" in a:
        n, _, v = a.partition("="); assert hasattr(policy, n), n; setattr(policy, n, ast.literal_eval(v))
eng = Engine.from_checkpoint(None, threads=int(os.environ.get("THREADS", "1")))
runner = MedPCLIPRunner(eng)
opts = SimpleNamespace(clicks=clicks, surface_tolerance_mm=3.0)
trials = []
for spec in load_specs(data):
    case = load_case(spec)
    slab, _, items3d = case_items(case, fraction, 20, None)
    runner.open(case)
    for item in items3d:
        t = run_3d(runner, case, slab, item, opts)
        trials.append(t); print(spec.name, t["label"], t["dice"], flush=True)
    runner.close()
json.dump(trials, open(out, "w"))
print("n", len(trials), "mean dice", np.round(np.mean([t["dice"] for t in trials], axis=0), 3).tolist())
print("mean nsd", np.round(np.mean([t["nsd"] for t in trials], axis=0), 3).tolist())

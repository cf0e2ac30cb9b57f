"""bench_engine with the model's nn.Linear layers dynamically quantised to int8 (probe)."""
import os, runpy, sys, torch
from medpclip.engine import engine as eng
if os.environ.get("Q") == "1":
    orig = eng.Engine.__init__
    def init(self, checkpoint, *a, **k):
        m = checkpoint.model.eval()
        names = {n for n, mod in m.named_modules() if type(mod) is torch.nn.Linear and "geometry" not in n and "text" not in n and "click" not in n}
        torch.ao.quantization.quantize_dynamic(m, names, dtype=torch.qint8, inplace=True)
        orig(self, checkpoint, *a, **k)
    eng.Engine.__init__ = init
sys.argv = ["bench_engine.py"] + sys.argv[1:]
runpy.run_path("Testing/benchmarks/bench_engine.py", run_name="__main__")

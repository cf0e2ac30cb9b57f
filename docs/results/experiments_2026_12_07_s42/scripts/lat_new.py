import time, sys
import numpy as np
from medpclip.engine import Engine
e = Engine.from_checkpoint(threads=2)
s = e.open("runs/bench/ct_512x512x300.nii.gz")
rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
gap = float(sys.argv[2]) if len(sys.argv) > 2 else 0.4
ks = [int(k) for k in rng.choice(np.arange(20, 280), size=24, replace=False)]
rows = []
for k in ks:
    time.sleep(gap)
    t = time.perf_counter()
    r = s.segment({"points": [[256, 256, k]]})
    w = (time.perf_counter() - t) * 1000
    rows.append((w, r.latency_ms.get("total_ms"), r.latency_ms.get("trunk_ms"), r.latency_ms.get("prompt_ms")))
rows = np.array(rows[4:], float)
print("gap", gap, "median wall / total / trunk / prompt", np.round(np.median(rows, 0), 1))
print(np.round(rows[:, :2]).astype(int).tolist())

"""40 first clicks on new slices of the 512x512x300 bench CT (body centre and the liver's deepest point, alternating),
0.3 s apart; prints per-click total ms and the kept view's side (a 160.8 mm view: two passes; else three)."""
import json, sys, time
import numpy as np
from medpclip.engine import Engine
from medpclip.data.volume import read_label
from medpclip.data.masks import max_edt_point
eng = Engine.from_checkpoint(None, threads=2)
s = eng.open("runs/bench/ct_512x512x300.nii.gz")
liver = read_label("runs/bench/liver_512x512x300.nii.gz", like=s.volume).array > 0
rng = np.random.default_rng(1)
ks = [int(k) for k in rng.choice(np.arange(10, 290), size=80, replace=False)]
s.segment({"points": [[256, 256, 150]]}); time.sleep(1)
out = []
for n, k in enumerate(ks):
    if s.cached("axial", s.canon_slice_index("axial", k)):
        continue
    if n % 2 and liver[k].any():
        r, c = max_edt_point(liver[k]); pt = [int(c), int(r), k]
    else:
        pt = [256, 256, k]
    time.sleep(0.3)
    t = time.perf_counter(); res = s.segment({"points": [pt]}, feedback=False); ms = (time.perf_counter() - t) * 1000
    out.append({"ms": round(ms, 1), "view_mm": res.latency_ms["view_mm"], "liver": bool(n % 2 and liver[k].any())})
    if len(out) == 40:
        break
print(json.dumps(out))

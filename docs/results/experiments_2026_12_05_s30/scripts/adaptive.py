"""Per structure: 3D Dice (current stop rules) with propagation in the context view (OV0 trace) and in object
views (OV1 trace), and the seed's object view share; the adaptive rule takes OV1 where share <= T."""
import json, sys, numpy as np
sys.path.insert(0, "Testing/benchmarks")
from trace_propagation import volume_dice, CURRENT, dataset_name
ov0 = {(t["case"], t["value"]): t for t in json.load(open(sys.argv[1]))}
ov1 = {(t["case"], t["value"]): t for t in json.load(open(sys.argv[2]))}
keys = [k for k in ov1 if k in ov0]
rows = []
for k in keys:
    a, b = volume_dice(ov0[k], CURRENT), volume_dice(ov1[k], CURRENT)
    rows.append((dataset_name(k[0]), k[0], ov1[k].get("name", k[1]), ov1[k].get("seed_view_share", 1.0), a, b))
    print(f"{k[0][:22]:22s} {str(ov1[k].get('name', k[1]))[:26]:26s} share {rows[-1][3]:.2f}  ctx {a:.3f}  obj {b:.3f}")
for T in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.01):
    per = {}
    for ds, *_r in rows:
        share, a, b = _r[2], _r[3], _r[4]
        per.setdefault(ds, []).append(b if share <= T else a)
    print(f"T {T:.2f}: " + ", ".join(f"{d} {np.mean(v):.3f}" for d, v in sorted(per.items())) + f", all {np.mean([np.mean(v) for v in per.values()]):.3f}")

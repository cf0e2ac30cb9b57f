import numpy as np, time
import medpclip.engine.policy as P
from medpclip.engine import Engine
from medpclip.data.cases import load_case
from medpclip.evaluation.items import load_specs
from medpclip.data.masks import dice
eng = Engine.from_checkpoint(threads=2)
for spec in load_specs(["Resources/SampleData"], walk=True):
    if "totalseg" not in spec.name: continue
    case = load_case(spec); lab = case.label.array
    vals = sorted(case.concepts, key=lambda v: -(lab == v).sum())[:8]
    for v in vals:
        ref = lab == v; k = int(np.argmax(ref.sum((1, 2)))); rows, cols = np.nonzero(ref[k])
        out = []
        for flag in (False, True):
            P.BOX_SELF_REFINE = flag
            s = eng.open(case.image)
            t = time.perf_counter()
            res = s.segment({"space": "ijk", "box": [float(cols.min()), float(rows.min()), float(k), float(cols.max()), float(rows.max()), float(k)]})
            out.append((dice(res.mask[k] > 0, ref[k]), (time.perf_counter() - t) * 1000))
        print(f"{spec.name[:18]:18s} {v:3d} {case.concepts[v].name[:30]:30s} {out[0][0]:.3f} -> {out[1][0]:.3f}   ms {out[0][1]:.0f} -> {out[1][1]:.0f}")

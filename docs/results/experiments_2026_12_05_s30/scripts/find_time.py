import time, numpy as np
import medpclip.engine.policy as P
from medpclip.engine import Engine
from medpclip.data.cases import load_case
from medpclip.evaluation.items import load_specs
eng = Engine.from_checkpoint(None, threads=2)
for spec in load_specs(["Resources/SampleData/totalseg_ct_abdomen", "Resources/SampleData/totalseg_mr_abdomen"], walk=True):
    case = load_case(spec)
    for term in ("liver", "aorta"):
        for ov in (False, True):
            P.FIND_PROPAGATION_OBJECT_VIEW = ov
            s = eng.open(case.image); t = time.perf_counter(); r = s.find(term, mode="3d")
            print(spec.name[:20], term, "object views" if ov else "context view", f"{time.perf_counter() - t:.1f} s", f"propagate {r.latency_ms.get('propagate_ms', 0) / 1000:.1f} s")

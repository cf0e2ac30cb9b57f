"""identify from a click prompt with / without the zoomed views: sample CT, 2 threads, fresh session vs again."""
import time, numpy as np, torch, json
from medpclip.engine import Engine, policy
from medpclip.model import load_checkpoint
from medpclip.data.cases import load_case
from medpclip.data.masks import max_edt_point
from medpclip.evaluation.items import load_specs
torch.set_num_threads(2)
eng = Engine(load_checkpoint())
spec = [s for s in load_specs('Resources/SampleData', walk=True) if s.name == 'totalseg_ct_abdomen'][0]
case = load_case(spec)
lab = case.label.array
out = {}
for zooms in [(), (0.9, 1.15)]:
    policy.IDENTIFY_VIEW_ZOOMS = zooms
    fresh, again = [], []
    for rep in range(3):
        s = eng.open(case.image)
        for v in (5, 1, 2):
            k = int(np.argmax((lab == v).sum((1, 2))))
            r, c = max_edt_point(lab[k] == v)
            prompt = {"points": [[int(c), int(r), k]]}
            t = time.perf_counter(); s.identify(prompt=prompt, top_k=5); fresh.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter(); s.identify(prompt=prompt, top_k=5); again.append((time.perf_counter() - t) * 1000)
    out[str(zooms)] = {'fresh_median_ms': round(float(np.median(fresh)), 1), 'cached_median_ms': round(float(np.median(again)), 1)}
    print(zooms, out[str(zooms)])
print(json.dumps(out))

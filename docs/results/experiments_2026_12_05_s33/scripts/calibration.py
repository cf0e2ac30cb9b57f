"""How well do the answer's probabilities (what the uncertainty map shows) match how often a pixel is right?
Box and first-click answers (click at the reference's deepest point) of the benchmark's items, pixels within the
answer's and the reference's joint bounding box grown by 16 px; logits recovered from the engine's uncertainty
map (public contract). Per temperature T (p = sigmoid(logit / T)): pixel NLL and expected calibration error
(10 bins). Session 33 (issue 12).

    python calibration.py --patients P1,P2 --out FILE.json
"""
import argparse, json

import numpy as np
import torch

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import max_edt_point, tight_box
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items
from medpclip.evaluation.patients import FULL_EXTENT, dataset_name, case_meta, resolve_cases
from medpclip.evaluation.benchmark import BenchmarkOptions
from medpclip.evaluation.runners import canon_to_input_point

TEMPERATURES = (0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
ap = argparse.ArgumentParser()
ap.add_argument("--patients", required=True)
ap.add_argument("--out", required=True)
a = ap.parse_args()
torch.set_num_threads(1)
eng = Engine.from_checkpoint(None)
opts = BenchmarkOptions(data="../shared/training", out="", patients=tuple(a.patients.split(",")))
logits, truth, kinds, datasets = [], [], [], []
for spec in resolve_cases(opts):
    case = load_case(spec)
    ds = dataset_name(case.spec.name, case_meta(case.spec))
    _, items, _ = case_items(case, FULL_EXTENT, 20, 6, 4)
    s = eng.open(case.image)
    for it in items:
        ref = extract_slice(case.canon_label, "axial", it.idx) == it.value
        x0, y0, x1, y1 = tight_box(ref)
        base = {"space": "ijk", "mode": "2d", "slice": s.input_slice_index("axial", it.idx)}
        r_, c_ = max_edt_point(ref)
        for kind, extra in (("box", {"box": canon_to_input_point(s, x0, y0, it.idx) + canon_to_input_point(s, x1, y1, it.idx)}),
                            ("click", {"points": [canon_to_input_point(s, c_, r_, it.idx)], "point_labels": [1]})):
            s.forget_feedback("axial", it.idx)
            r = s.segment({**base, **extra}, with_uncertainty=True)
            m = extract_slice(s.orient.array_to_canonical(r.mask), "axial", it.idx) > 0
            u = extract_slice(s.orient.array_to_canonical(r.uncertainty), "axial", it.idx).astype(np.float64)
            p = np.clip(np.where(m, 1 - u / 2, u / 2), 1e-6, 1 - 1e-6)
            both = m | ref
            rows, cols = np.nonzero(both)
            sl = (slice(max(rows.min() - 16, 0), rows.max() + 17), slice(max(cols.min() - 16, 0), cols.max() + 17))
            lg = np.log(p[sl] / (1 - p[sl])).ravel()
            logits.append(lg); truth.append(ref[sl].ravel()); kinds += [kind] * lg.size; datasets += [ds] * lg.size
lg, y = np.concatenate(logits), np.concatenate(truth).astype(float)
kinds, datasets = np.array(kinds), np.array(datasets)


def stats(sel, T):
    p = 1 / (1 + np.exp(-lg[sel] / T))
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    nll = float(-np.mean(y[sel] * np.log(pc) + (1 - y[sel]) * np.log(1 - pc)))
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(p[bins == b].mean() - y[sel][bins == b].mean()) * (bins == b).mean() for b in range(10) if (bins == b).any())
    return {"nll": round(nll, 4), "ece": round(float(ece), 4)}


out = {"pixels": int(lg.size), "abs_logit_median": float(np.median(np.abs(lg))),
       "abs_logit_p95": float(np.percentile(np.abs(lg), 95)), "by_temperature": {}}
for T in TEMPERATURES:
    out["by_temperature"][str(T)] = {f"{d}/{k}": stats((datasets == d) & (kinds == k), T)
                                     for d in sorted(set(datasets)) for k in ("box", "click")}
    out["by_temperature"][str(T)]["all"] = stats(np.ones_like(y, bool), T)
json.dump(out, open(a.out, "w"), indent=1)
print(json.dumps({"pixels": out["pixels"], "abs_logit_median": out["abs_logit_median"], "abs_logit_p95": out["abs_logit_p95"]}))
for T, v in out["by_temperature"].items():
    print(T, v["all"], {k: (x["nll"], x["ece"]) for k, x in v.items() if k != "all"})

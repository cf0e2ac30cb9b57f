"""How well do the answer's probabilities (what the uncertainty map shows) match how often a pixel is right?
Box and first-click answers (click at the reference's deepest point) of the benchmark's items, pixels within the
answer's and the reference's joint bounding box grown by 16 px; logits recovered from the engine's uncertainty
map (public contract). Per temperature T (p = sigmoid(logit / T)): pixel NLL and expected calibration error
(10 bins). Session 33 (issue 12).

    python calibration.py --patients P1,P2 --out FILE.json
"""
import argparse, json

import numpy as np

from medpclip.data.masks import max_edt_point

from medpclip.evaluation.runners import canon_to_input_point

from answers import answer, box_prompt, items

TEMPERATURES = (0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
ap = argparse.ArgumentParser()
ap.add_argument("--patients", required=True)
ap.add_argument("--out", required=True)
a = ap.parse_args()
logits, truth, kinds, datasets = [], [], [], []
for s, case, ds, it, ref in items(a.patients):
    r_, c_ = max_edt_point(ref)
    click = {"points": [canon_to_input_point(s, c_, r_, it.idx)], "point_labels": [1]}
    for kind, extra in (("box", box_prompt(s, it.idx, ref)), ("click", click)):
        m, p = answer(s, it.idx, extra)
        p = np.clip(p, 1e-6, 1 - 1e-6)
        rows, cols = np.nonzero(m | ref)
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

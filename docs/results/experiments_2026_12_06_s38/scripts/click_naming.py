"""Naming a click's own result (Session.identify(result=...), what the MONAI Label interactive task returns) on the
held-out patients, with the body's view first (CLICK_VIEW_MM=None) and with the click view (160 mm): Top-1 / Top-5
among the case's names, per dataset. Items: the README protocol's (4 slices per case, 6 largest structures)."""
import sys, collections, json
import numpy as np
from medpclip.engine import Engine, policy
from medpclip.evaluation.items import load_specs, case_items
from medpclip.evaluation.patients import select_patients, dataset_name, case_meta
from medpclip.evaluation.runners import canon_to_input_point
from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import max_edt_point

HO = (sys.argv[2] if len(sys.argv) > 2 else "BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1").split(",")
engine = Engine.from_checkpoint(None, threads=int(sys.argv[1]) if len(sys.argv) > 1 else 1)
specs = select_patients(load_specs("../shared/training", walk=True), HO)
VARIANTS = (("None", None, False), ("160", 160.0, False), ("160+body", 160.0, True), ("None+body", None, True))
res = {v: collections.defaultdict(list) for v, _, _ in VARIANTS}
for spec in specs:
    case = load_case(spec)
    names = [case.spec.labels[v] for v in case.concepts]
    ds = dataset_name(spec.name, case_meta(spec))
    _, items, _ = case_items(case, 1.0, 20, 6, 4)
    s = engine.open(case.image)
    for it in items:
        target = extract_slice(case.canon_label, "axial", it.idx) == it.value
        r, c = max_edt_point(target)
        prompt = {"space": "ijk", "points": [canon_to_input_point(s, c, r, it.idx)], "point_labels": [1], "mode": "2d"}
        masks = {}
        for v, mm, body in VARIANTS:
            policy.CLICK_VIEW_MM = mm
            policy.NAME_CLICK_IN_BODY_VIEW = body
            out = s.segment(prompt, feedback=False)
            masks[v] = out.mask
            ranked = s.identify(result=out, vocabulary=names, top_k=5)
            res[v][ds].append((ranked[0]["id"] == it.concept.id, any(x["id"] == it.concept.id for x in ranked),
                               out.latency_ms.get("view_mm")))
        assert np.array_equal(masks["160"], masks["160+body"]) and np.array_equal(masks["None"], masks["None+body"])
    s.close()
for v, by in res.items():
    line = [f"{ds} n{len(x)} top1 {np.mean([a for a, _, _ in x]):.3f} top5 {np.mean([b for _, b, _ in x]):.3f}" for ds, x in sorted(by.items())]
    avg = np.mean([np.mean([a for a, _, _ in x]) for x in by.values()])
    print(f"CLICK_VIEW_MM={v}: " + " | ".join(line) + f" | dataset avg top1 {avg:.3f}")

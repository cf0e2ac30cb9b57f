"""Per-slice traces of one-click 3D propagation with the stop rules off, and the 3D Dice each candidate stop rule
would give (the experiment behind the propagation stop rules in docs/DESIGN-NOTES.md, "3D propagation"). Not a test.

The protocol of ``medpclip benchmark`` (patient mode): one click at the deepest point of the structure's largest
axial slice, ``mode: 3d``. Propagation is autoregressive, so stopping a direction at a slice leaves the slices
before it unchanged: one run per structure with every rule off except "vanished" gives, per slice, what every rule
needs (score, area, the mask's mean intensity, overlap with the previous slice) and the reference overlap, and any
rule's 3D Dice follows exactly, offline.

    python Testing/benchmarks/trace_propagation.py --data ../shared/training --patients brats_2013_pat0003_1 \
        --out runs/trace_train.json
    python Testing/benchmarks/trace_propagation.py --replay runs/trace_train.json runs/trace_heldout.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging

import numpy as np

import medpclip.engine.policy as policy
import medpclip.engine.propagate as propagate_module
from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice, slice_pixel_spacing
from medpclip.data.views import mask_extent, object_window, window_side_mm
from medpclip.data.masks import max_edt_point
from medpclip.engine import Engine
from medpclip.engine.prompt import PromptSpec
from medpclip.engine.views import answer_slice
from medpclip.evaluation.items import load_specs
from medpclip.evaluation.patients import dataset_name, items_3d, select_patients
from medpclip.evaluation.runners import canon_to_input_point

log = logging.getLogger("trace_propagation")


def trace_structure(session, case, value: int) -> dict:
    """One click, mode 3d, rules off; per propagated slice: the stop-rule inputs and the reference overlap."""
    target = case.canon_label == value
    areas = target.sum(axis=(1, 2))
    k = int(np.argmax(areas))
    r, c = max_edt_point(target[k])
    rows: list[dict] = []
    state = {"prev": None}
    image = session.canon

    def record(res, area, prev_area, max_area, name_embs, seed_name):
        idx = state["idx"]
        m = res.mask
        img = extract_slice(image, "axial", idx)
        prev = state["prev"]
        rows.append({"idx": idx, "score": float(res.score), "area": area, "prev_area": prev_area,
                     "mean": float(img[m].mean()) if area else 0.0,
                     "iou_prev": float((m & prev).sum() / max(1, (m | prev).sum())) if prev is not None else 1.0,
                     "inter": int((m & target[idx]).sum()), "ref": int(target[idx].sum())})
        state["prev"] = m
        return "vanished" if area < policy.MIN_AREA else None

    original_predict = session.predict_slice

    def predict(plane, idx, *args, **kwargs):
        state["idx"] = idx
        return original_predict(plane, idx, *args, **kwargs)

    session.forget_feedback("axial", k)
    spec = PromptSpec.from_dict({"space": "ijk", "points": [canon_to_input_point(session, c, r, k)], "point_labels": [1],
                                 "mode": "3d", "slice": session.input_slice_index("axial", k)})
    resolved = session.resolve(spec)
    res, window = answer_slice(session, "axial", k, resolved.points, None, None, None)  # the 2D answer
    seed = res.mask
    session.predict_slice = predict
    original_rule, drift = propagate_module._stop_rule, policy.INTENSITY_DRIFT
    propagate_module._stop_rule, policy.INTENSITY_DRIFT = record, None  # every rule off: replayed offline
    directions = []
    try:
        limits = (0, session.n_slices("axial") - 1)
        scratch = np.zeros(session.canon.shape, np.uint8)
        for direction in (1, -1):
            state["prev"] = seed
            rows.clear()
            propagate_module._one_direction(session, resolved, res, window, direction, limits, scratch, None,
                                            policy.PROPAGATION_OBJECT_VIEW, set())
            directions.append(list(rows))
    finally:
        del session.predict_slice
        propagate_module._stop_rule, policy.INTENSITY_DRIFT = original_rule, drift
    seed_img = extract_slice(image, "axial", k)
    spacing = slice_pixel_spacing(session.spacing, "axial")
    seed_share = (window_side_mm(object_window(mask_extent(seed), spacing), spacing)
                  / window_side_mm(session.context_window("axial"), spacing)) if seed.any() else 1.0
    return {"case": case.spec.name, "value": value, "slice": k, "seed_score": float(res.score),
            "seed_view_share": seed_share,
            "seed_area": int(seed.sum()), "seed_mean": float(seed_img[seed].mean()) if seed.any() else 0.0,
            "seed_inter": int((seed & target[k]).sum()), "seed_ref": int(target[k].sum()),
            "ref_total": int(target.sum()), "up": directions[0], "down": directions[1]}


# -- offline replay -------------------------------------------------------------------------------------------
def stops_at(rows: list[dict], rule: dict, seed: dict) -> int:
    """How many slices of one direction a rule keeps."""
    for n, row in enumerate(rows):
        if row["area"] < policy.MIN_AREA:
            return n
        if row["score"] < rule["score"]:
            return n
        if row["area"] > rule["grow"] * max(row["prev_area"], policy.MIN_AREA):
            return n
        if row["area"] > rule["grow_total"] * max(seed["seed_area"], policy.MIN_AREA):
            return n
        if row["area"] < rule["shrink"] * row["prev_area"]:
            return n
        if rule["iou_prev"] and row["iou_prev"] < rule["iou_prev"]:
            return n
        if rule["intensity"] and abs(row["mean"] - seed["seed_mean"]) > rule["intensity"]:
            return n
        if rule["rel_score"] and row["score"] < rule["rel_score"] * seed["seed_score"]:
            return n
    return len(rows)


def volume_dice(trace: dict, rule: dict) -> float:
    inter, pred = trace["seed_inter"], trace["seed_area"]
    for key in ("up", "down"):
        rows = trace[key][:stops_at(trace[key], rule, trace)]
        inter += sum(r["inter"] for r in rows)
        pred += sum(r["area"] for r in rows)
    return 2 * inter / max(1, pred + trace["ref_total"])


# "intensity": the largest difference of the region's mean normalised intensity from the prompted slice's
# (policy.INTENSITY_DRIFT); "rel_score": stop below this share of the prompted slice's predicted quality
BEFORE = {"score": 0.3, "grow": 4.0, "grow_total": 3.0, "shrink": 0.15, "iou_prev": 0.0, "intensity": 0.0,
          "rel_score": 0.0}
CURRENT = {**BEFORE, "score": policy.STOP_SCORE, "grow": policy.GROW, "grow_total": policy.GROW_TOTAL,
           "shrink": policy.SHRINK, "intensity": policy.INTENSITY_DRIFT or 0.0}
GRID = {"score": [0.3, 0.5], "grow": [2.0, 4.0], "grow_total": [2.0, 3.0], "shrink": [0.15, 0.3],
        "iou_prev": [0.0, 0.3, 0.5], "intensity": [0.0, 0.1, 0.15, 0.2, 0.25, 0.3], "rel_score": [0.0, 0.7]}


def dataset_dice(traces: list[dict], rule: dict) -> dict[str, float]:
    """Mean 3D Dice per dataset (``medpclip benchmark``'s dataset names) and their average ("all")."""
    groups: dict[str, list[float]] = {}
    for t in traces:
        groups.setdefault(dataset_name(t["case"]), []).append(volume_dice(t, rule))
    out = {k: float(np.mean(v)) for k, v in sorted(groups.items())}
    out["all"] = float(np.mean(list(out.values())))
    return out


def replay(paths: list[str]) -> None:
    """Fit the grid on the first file (dataset-averaged), report the rules on every file, per dataset."""
    sets = {p: json.load(open(p)) for p in paths}
    scored = sorted(((dataset_dice(sets[paths[0]], r)["all"], r) for r in
                     (dict(zip(GRID, values)) for values in itertools.product(*GRID.values()))),
                    key=lambda t: -t[0])
    for label, rule in [("before", BEFORE), ("current", CURRENT)] + [(f"best {n + 1} on {paths[0]}", r)
                                                                   for n, (_, r) in enumerate(scored[:3])]:
        print(label, json.dumps(rule))
        for path, traces in sets.items():
            print(f"    {path}: " + ", ".join(f"{k} {v:.3f}" for k, v in dataset_dice(traces, rule).items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/training")
    ap.add_argument("--patients", default="")
    ap.add_argument("--checkpoint")
    ap.add_argument("--max-structures", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--replay", nargs="+", help="trace JSON files: fit on the first, report on all")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.replay:
        return replay(args.replay)
    engine = Engine.from_checkpoint(args.checkpoint, threads=args.threads)
    specs = select_patients(load_specs(args.data.split(","), walk=True), [p for p in args.patients.split(",") if p])
    traces = []
    for spec in specs:
        case = load_case(spec)
        items = items_3d(case, 100, args.max_structures)
        if not items:
            continue
        session = engine.open(case.image)
        for value, concept, _ in items:
            t = trace_structure(session, case, value)
            t["name"] = concept.name
            traces.append(t)
            log.info("%s %s: %d up / %d down slices traced, ref %d slices", case.spec.name, concept.name,
                     len(t["up"]), len(t["down"]), int((case.canon_label == value).any(axis=(1, 2)).sum()))
        session.close()
    with open(args.out, "w") as f:
        json.dump(traces, f)


if __name__ == "__main__":
    main()

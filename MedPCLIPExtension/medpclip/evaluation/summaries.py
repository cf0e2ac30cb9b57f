"""The benchmark's numbers from its trial records: per method / first prompt, 3D, and per structure. From the trials
alone, so saved results can be summarised again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .protocol import REPORT_CLICKS

if TYPE_CHECKING:
    from .benchmark import BenchmarkOptions
    from .runners import MethodRunner

RECOGNITION_KEYS = ("top1", "top5", "top1_box", "top5_box", "top1_point", "top5_point", "top1_dataset", "top5_dataset",
                    "top1_dataset_box", "top5_dataset_box", "top1_dataset_point", "top5_dataset_point",
                    "top1_all_vocabulary", "top1_together")


def mean(vals: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None, to 4 decimals; None when there are none."""
    vals = [v for v in vals if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def pct(vals: list[float], q: float) -> float | None:
    return round(float(np.percentile(vals, q)), 2) if vals else None


def _at(values: list[float], k: int, clicks: int) -> float | None:
    """Value after interaction k; None when k was not simulated (k > clicks)."""
    if k > clicks or not values:
        return None
    return values[min(k, len(values)) - 1]


def summarise_2d(trials: list[dict], clicks: int) -> dict[str, Any]:
    if not trials:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(trials)}
    for k in sorted(set(REPORT_CLICKS) | {clicks}):
        out[f"dice@{k}"] = mean(_at(t["dice"], k, clicks) for t in trials)
    out["noc85"] = round(float(np.mean([t["noc85"] for t in trials])), 2)
    out["noc90"] = round(float(np.mean([t["noc90"] for t in trials])), 2)
    out["reached85"] = round(float(np.mean([max(t["iou"]) >= 0.85 for t in trials])), 4)
    out["reached90"] = round(float(np.mean([max(t["iou"]) >= 0.90 for t in trials])), 4)
    answered = [t["answers_dice"] for t in trials if t.get("answers_dice")]
    for k in range(2, max(map(len, answered), default=0) + 1):  # the first click, the best of its first k answers
        out[f"best_of_{k}_answers"] = mean(max(a[:k]) for a in answered)
    rec = [t for t in trials if t.get("top1") is not None]
    if rec:
        for key in RECOGNITION_KEYS:
            if key in rec[0]:
                out[key] = mean(float(t[key]) for t in rec)
    return out


def summarise_3d(trials: list[dict], clicks: int) -> dict[str, Any]:
    if not trials:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(trials)}
    for k in sorted(set(REPORT_CLICKS) | {clicks}):
        out[f"dice@{k}"] = mean(_at(t["dice"], k, clicks) for t in trials)
    for k in sorted(set(REPORT_CLICKS) | {clicks}):
        out[f"nsd@{k}"] = mean(_at(t["nsd"], k, clicks) for t in trials)
    return out


def without_reached(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if not k.startswith("reached")}


def method_summaries(runners: Sequence[MethodRunner], trials2d: list[dict], trials3d: list[dict],
                     opts: BenchmarkOptions) -> dict[str, Any]:
    """Per method: the first first-prompt's 2D summary at the top level, the others under their name, ``3d`` and
    the wall time per interaction."""
    methods: dict[str, Any] = {}
    for r in runners:
        mine = [t for t in trials2d if t["method"] == r.name]
        first = opts.first_prompts[0]
        entry = summarise_2d([t for t in mine if t["first"] == first], opts.clicks)
        entry["first_prompt"] = first
        for f in opts.first_prompts[1:]:
            entry[f] = summarise_2d([t for t in mine if t["first"] == f], opts.clicks)
        if opts.volumes:
            entry["3d"] = summarise_3d([t for t in trials3d if t["method"] == r.name], opts.clicks)
        entry["ms_per_interaction_median"] = pct(r.ms, 50)
        entry["ms_per_interaction_p95"] = pct(r.ms, 95)
        methods[r.name] = entry
    return methods


def per_structure(trials2d: list[dict], trials3d: list[dict], clicks: int) -> list[dict]:
    """One row per (case, structure): per method, click-first / box-first 2D summaries and the 3D result."""
    rows: dict[tuple[str, str], dict] = {}
    for t in trials2d + trials3d:
        key = (t["case"], t["structure"])
        row = rows.setdefault(key, {"case": t["case"], "modality": t["modality"], "structure": t["structure"],
                                    "label": t["label"], "methods": {}})
        row["methods"].setdefault(t["method"], {})
    for key, row in rows.items():
        for m, entry in row["methods"].items():
            mine = [t for t in trials2d if (t["case"], t["structure"], t["method"]) == (*key, m)]
            for first in sorted({t["first"] for t in mine}):
                sel = [t for t in mine if t["first"] == first]
                entry[first] = without_reached(summarise_2d(sel, clicks))
                row["slices"] = len(sel)
                row["pixels_mean"] = round(float(np.mean([t["pixels"] for t in sel])), 1)
            t3 = [t for t in trials3d if (t["case"], t["structure"], t["method"]) == (*key, m)]
            if t3:
                entry["3d"] = summarise_3d(t3, clicks)
    return sorted(rows.values(), key=lambda r: (r["case"], r["structure"]))

"""Patient-level benchmark: the benchmark harness (``benchmark.py``) on patients the model was not trained on.

``medpclip benchmark --data DIR [--data DIR2 ...] --patients ID,ID,...`` (docs/BENCHMARK.md, "Patient-level mode"):

- cases: those whose patient id (``patient_of``: ``CaseSpec.patient``, else meta.json ``patient``, else the case
  name) is listed; an id that matches no case is an error (a typo must not shrink the evaluation silently);
- slices: **every labelled slice** (``eval_slices(label, 1.0)``: the whole labelled extent), at most
  ``max_slices`` per case, evenly spaced over the labelled slices;
- 2D: the benchmark's click-first and box-first protocols and recognition, same items, same simulated clicks, same
  methods (``runners.run_items_2d``);
- one-click 3D (MedP-CLIP, cases with more than one slice): one positive click at the deepest point (max EDT) of
  the structure's largest axial slice, ``"mode": "3d"`` (free propagation through the volume); volume Dice against
  the structure's full 3D label, slices reached, the result's warnings;
- results per dataset (``dataset_name``) and averaged over datasets (each dataset weighs the same).

No latency / SAM measurements and no 3D box protocol here: those are slice-level properties of the engine that the
slice-level benchmark already measures.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from ..data.cases import Case, load_case
from ..data.datalist import CaseSpec
from ..data.masks import dice, iou, max_edt_point
from ..data.volume import VolumeError
from .benchmark import BenchmarkOptions
from .items import case_items, input_slice, load_specs
from .report import RunStart, environment, fmt, overlay_choice, plots_section, write_outputs
from .runners import MedPCLIPRunner, make_runners, medpclip_runner, run_items_2d, warm_up_classical
from .summaries import mean, method_summaries, summarise_2d, without_reached

if TYPE_CHECKING:
    from ..engine.session import Engine

log = logging.getLogger(__name__)

FULL_EXTENT = 1.0            # holdout fraction meaning "every labelled slice"
DEFAULT_MAX_SLICES = 6
PATIENT_CLICKS = 5           # Dice@1/3/5 is what this mode reports
TABLE_CLICKS = (1, 3, 5)

# case-name prefixes that are not the dataset's name: the BTCV slices (IMIS-Bench) are named ABD_<patient>_<slice>
DATASET_ALIASES = {"abd": "btcv"}


class PatientSelectionError(VolumeError):
    """--patients names a patient that no case of the data has (a user error: one line, exit code 3)."""


# -- who and which dataset ------------------------------------------------------------------------------------
def case_meta(spec: CaseSpec) -> dict[str, Any]:
    """``spec.meta`` (the whole meta.json / datalist item extras); for a ``CaseSpec`` without that attribute (an
    older data layer) the case folder's meta.json (folder convention only: ``<case>/image.*``), else {}."""
    meta = getattr(spec, "meta", None)
    if isinstance(meta, dict):
        return meta
    image = Path(spec.image)
    path = image.parent / "meta.json"
    if image.name.split(".")[0] == "image" and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def patient_of(spec: CaseSpec) -> str:
    """The case's patient id: ``CaseSpec.patient`` (data.datalist: meta.json ``patient``, else the case name);
    without that attribute meta.json ``patient``, else the case name. ``select_patients`` is
    ``data.holdout.split_by_patient``'s held-out half with a CLI-worded error."""
    pid = getattr(spec, "patient", None) or case_meta(spec).get("patient")
    return str(pid).strip() if pid is not None and str(pid).strip() else spec.name


def dataset_name(case_name: str, meta: dict[str, Any] | None = None) -> str:
    """meta.json ``dataset`` if present; else the case name's prefix before the first ``_`` followed by a digit or
    ``pat`` (``brats_pat0003_flair`` -> ``brats``; ``ABD_001_100`` -> ``abd`` -> alias ``btcv``); a name without
    such a ``_`` loses its last ``_`` part (``totalseg_mr_abdomen`` -> ``totalseg_mr``, ``radiomics_brain1`` ->
    ``radiomics``). Lower case; ``DATASET_ALIASES`` maps prefixes that are not dataset names."""
    if meta and isinstance(meta.get("dataset"), str) and meta["dataset"].strip():
        return meta["dataset"].strip()
    m = re.match(r"(.+?)_(?:\d|pat)", case_name, flags=re.IGNORECASE)
    prefix = m.group(1) if m else (case_name.rsplit("_", 1)[0] if "_" in case_name else case_name)
    prefix = prefix.lower()
    return DATASET_ALIASES.get(prefix, prefix)


def parse_patients(text: str | None = None, file: str | Path | None = None) -> tuple[str, ...]:
    """Patient ids from a comma list and / or a file (one or more per line, comma separated; ``#`` comments), in
    order, duplicates dropped. Ids may contain spaces (``TotalSegmentator example_ct``)."""
    ids: list[str] = []
    if text:
        ids += text.split(",")
    if file is not None:
        try:
            lines = Path(file).read_text().splitlines()
        except OSError as exc:
            raise PatientSelectionError(f"--patients-file {file}: cannot read ({exc.strerror})") from None
        for line in lines:
            ids += line.split("#", 1)[0].split(",")
    out = tuple(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not out:
        raise PatientSelectionError("no patient ids given (--patients ID,ID,... or --patients-file FILE)")
    return out


def select_patients(specs: Sequence[CaseSpec], patients: Iterable[str]) -> list[CaseSpec]:
    """The cases of the listed patients, in data order. Any id without a case is an error naming it and a few
    known ids."""
    wanted = list(patients)
    by_patient: dict[str, list[CaseSpec]] = {}
    for s in specs:
        by_patient.setdefault(patient_of(s), []).append(s)
    unknown = [p for p in wanted if p not in by_patient]
    if unknown:
        known = sorted(by_patient)
        hint = ", ".join(known[:8]) + (f", ... ({len(known)} in all)" if len(known) > 8 else "")
        raise PatientSelectionError(f"--patients: no case of the data has patient id(s) {', '.join(map(repr, unknown))}"
                                    f"; known ids: {hint}")
    keep = set(wanted)
    return [s for s in specs if patient_of(s) in keep]


# -- one-click 3D ---------------------------------------------------------------------------------------------
def one_click_3d(runner: MedPCLIPRunner, case: Case, value: int) -> dict[str, Any]:
    """One positive click at the max-EDT point of the structure's largest canonical axial slice, ``mode: 3d``;
    volume Dice / IoU over the whole volume against the structure's full 3D label."""
    s = runner.session
    target = case.canon_label == value
    areas = target.sum(axis=(1, 2))
    k = int(np.argmax(areas))
    r, c = max_edt_point(target[k])
    s.forget_feedback("axial", k)
    t = time.perf_counter()
    res = s.segment({"space": "ijk", "points": [runner.input_point(c, r, k)], "point_labels": [1], "mode": "3d",
                     "slice": s.input_slice_index("axial", k)})
    ms = (time.perf_counter() - t) * 1000
    pred = s.orient.array_to_canonical(res.mask) > 0
    reached = pred.reshape(pred.shape[0], -1).any(1)
    on_target = areas > 0
    return {"dice": round(dice(pred, target), 4), "iou": round(iou(pred, target), 4),
            "slice": input_slice(case, k), "click_rc": [int(r), int(c)], "voxels": int(target.sum()),
            "target_slices": int(on_target.sum()), "slices": len(res.slices),
            "slices_on_target": int((reached & on_target).sum()), "stopped_after_1": len(res.slices) <= 1,
            "warnings": list(res.warnings), "score": round(float(res.score), 4), "ms": round(ms, 1)}


def items_3d(case: Case, min_pixels: int, max_trials: int | None) -> list[tuple[int, Any, int]]:
    """(value, concept, voxels) of the structures whose largest axial slice has >= ``min_pixels`` px; the
    ``max_trials`` largest by volume. None for a single-slice case."""
    if case.canon_label.shape[0] <= 1:
        return []
    out = []
    for value, concept in case.concepts.items():
        m = case.canon_label == value
        if m.sum(axis=(1, 2)).max() >= min_pixels:
            out.append((value, concept, int(m.sum())))
    out.sort(key=lambda t: -t[2])
    return out[:max_trials] if max_trials is not None else out


# -- summaries ------------------------------------------------------------------------------------------------
def warning_kind(message: str) -> str:
    """A result warning without its slice numbers, so that the same stop reason counts once per kind."""
    return re.sub(r"\b(slice|after) \d+", r"\1 N", message)


def summarise_3d_one_click(trials: list[dict]) -> dict[str, Any]:
    """n, mean / median volume Dice, slices reached, how often propagation kept only the prompted slice, and the
    result warnings counted by kind (``warning_kind``)."""
    if not trials:
        return {"n": 0}
    warnings: dict[str, int] = {}
    for t in trials:
        for w in dict.fromkeys(warning_kind(w) for w in t["warnings"]):
            warnings[w] = warnings.get(w, 0) + 1
    return {"n": len(trials), "dice": mean(t["dice"] for t in trials),
            "dice_median": round(float(np.median([t["dice"] for t in trials])), 4),
            "slices_mean": round(float(np.mean([t["slices"] for t in trials])), 2),
            "target_slices_mean": round(float(np.mean([t["target_slices"] for t in trials])), 2),
            "stopped_after_1": int(sum(t["stopped_after_1"] for t in trials)),
            "with_warnings": int(sum(bool(t["warnings"]) for t in trials)), "warnings": warnings}


def summarise_group(trials2d: list[dict], trials3d: list[dict], methods: Sequence[str], firsts: Sequence[str],
                    clicks: int) -> dict[str, Any]:
    """One dataset (or patient): per method and first prompt the 2D summary; MedP-CLIP's recognition (by mask,
    among the case's own names) inside its click summary; the one-click 3D summary."""
    out: dict[str, Any] = {"cases": sorted({t["case"] for t in trials2d + trials3d}),
                           "patients": sorted({t["patient"] for t in trials2d + trials3d}), "methods": {}}
    for m in methods:
        mine = [t for t in trials2d if t["method"] == m]
        out["methods"][m] = {f: without_reached(summarise_2d([t for t in mine if t["first"] == f], clicks))
                             for f in firsts}
    out["one_click_3d"] = summarise_3d_one_click(trials3d)
    return out


def _average(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric leaf over the groups that have it (None and missing left out); ``n`` summed."""
    out: dict[str, Any] = {}
    keys = list(dict.fromkeys(k for g in groups for k in g))
    for k in keys:
        vals = [g[k] for g in groups if k in g]
        if all(isinstance(v, dict) for v in vals):
            if k == "warnings":
                merged: dict[str, int] = {}
                for v in vals:
                    for w, c in v.items():
                        merged[w] = merged.get(w, 0) + c
                out[k] = merged
            else:
                out[k] = _average(vals)
        elif k in ("n", "stopped_after_1", "with_warnings"):
            out[k] = int(sum(v for v in vals if v is not None))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) or v is None for v in vals):
            out[k] = mean(vals)
    return out


def dataset_average(datasets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each dataset weighs the same: means over datasets of their 2D summaries (datasets with trials) and of their
    one-click 3D summaries (datasets with 3D cases)."""
    avg: dict[str, Any] = {"datasets": sorted(datasets), "methods": {}}
    methods = list(dict.fromkeys(m for d in datasets.values() for m in d["methods"]))
    for m in methods:
        firsts = list(dict.fromkeys(f for d in datasets.values() for f in d["methods"].get(m, {})))
        avg["methods"][m] = {f: _average([d["methods"][m][f] for d in datasets.values()
                                          if d["methods"].get(m, {}).get(f, {}).get("n")]) for f in firsts}
    with3d = [d["one_click_3d"] for d in datasets.values() if d["one_click_3d"].get("n")]
    avg["one_click_3d"] = _average(with3d) if with3d else {"n": 0}
    avg["one_click_3d"]["datasets"] = sum(1 for _ in with3d)
    return avg


def patient_summaries(trials2d: list[dict], trials3d: list[dict], methods: Sequence[str], firsts: Sequence[str],
                      clicks: int, patients: Sequence[str], who: dict[str, dict[str, str]]) -> dict[str, Any]:
    """``datasets`` (one ``summarise_group`` per dataset of the evaluated cases), ``dataset_average``,
    ``per_patient`` (in the order asked); ``who`` = case -> {patient, dataset}. From the trials alone, so saved
    results can be summarised again."""
    by_ds = {ds: summarise_group([t for t in trials2d if t["dataset"] == ds], [t for t in trials3d if t["dataset"] == ds],
                                 methods, firsts, clicks)
             for ds in sorted({w["dataset"] for w in who.values()})}
    per_patient = {p: summarise_group([t for t in trials2d if t["patient"] == p],
                                      [t for t in trials3d if t["patient"] == p], methods, firsts, clicks)
                   for p in patients if any(w["patient"] == p for w in who.values())}
    return {"datasets": by_ds, "dataset_average": dataset_average(by_ds), "per_patient": per_patient}


# -- the run --------------------------------------------------------------------------------------------------
def resolve_cases(opts: BenchmarkOptions) -> list[CaseSpec]:
    """The selected patients' case specs (``max_cases`` applied after selection); errors before any model work."""
    if not opts.patients:
        raise PatientSelectionError("patient mode needs at least one patient id")
    specs = select_patients(load_specs(opts.data, walk=True), opts.patients)
    return specs[: opts.max_cases] if opts.max_cases else specs


def run_patient_benchmark(engine: Engine | None, opts: BenchmarkOptions,
                          specs: list[CaseSpec] | None = None) -> dict[str, Any]:
    from tqdm import tqdm

    start = RunStart()
    specs = resolve_cases(opts) if specs is None else specs
    max_slices = DEFAULT_MAX_SLICES if opts.max_slices is None else opts.max_slices
    cases: list[Case] = []
    skipped: list[dict[str, str]] = []
    for spec in tqdm(specs, desc="load cases", unit="case", disable=not opts.progress, dynamic_ncols=True, leave=False):
        try:
            cases.append(load_case(spec))
        except (VolumeError, ValueError) as exc:   # one unreadable case must not sink the run: reported below
            log.warning("case %s skipped: %s", spec.name, exc)
            skipped.append({"case": spec.name, "patient": patient_of(spec), "reason": str(exc)})
    who = {c.spec.name: {"patient": patient_of(c.spec), "dataset": dataset_name(c.spec.name, case_meta(c.spec))}
           for c in cases}
    plan = []
    for case in cases:
        slab, items2d, _ = case_items(case, FULL_EXTENT, opts.min_pixels, opts.max_trials, max_slices)
        i3 = items_3d(case, opts.min_pixels, opts.max_trials) if opts.volumes else []
        plan.append((case, sorted({it.idx for it in items2d}), items2d, i3))
    counts: dict[str, int] = {}
    for c in cases:
        counts[who[c.spec.name]["dataset"]] = counts.get(who[c.spec.name]["dataset"], 0) + 1
    log.info("patient mode: %d patient(s), %d case(s) (%s); %d 2D items, %d one-click 3D structures",
             len(opts.patients), len(cases), ", ".join(f"{d} {n}" for d, n in sorted(counts.items())),
             sum(len(p[2]) for p in plan), sum(len(p[3]) for p in plan))

    runners = make_runners(opts.methods, engine, opts.views)
    ours = medpclip_runner(runners)
    total = sum(len(runners) * len(i2) * len(opts.first_prompts) + (len(i3) if ours else 0) for _, _, i2, i3 in plan)
    bar = tqdm(total=total, desc="patient benchmark", unit="trial", disable=not opts.progress, dynamic_ncols=True)
    warm_up_classical(runners)
    first_of_dataset = {}
    for case, *rest in plan:
        first_of_dataset.setdefault(who[case.spec.name]["dataset"], (case, *rest))
    overlay_keys = overlay_choice(list(first_of_dataset.values()), opts.overlays)
    examples: list[dict] = []
    trials2d: list[dict] = []
    trials3d: list[dict] = []
    dataset_names = list(dict.fromkeys(c.spec.labels[v] for c, *_ in plan for v in c.concepts))
    for case, slices, items2d, i3 in plan:
        names = [case.spec.labels[v] for v in case.concepts]
        extra = who[case.spec.name]
        for runner in runners:
            bar.set_postfix_str(f"{case.spec.name}: {runner.name}")
            runner.open(case, encode=slices)
            trials2d += run_items_2d(runner, case, items2d, opts, names, dataset_names, overlay_keys, examples,
                                     bar.update, extra)
            if runner is ours:
                for value, concept, voxels in i3:
                    bar.set_postfix_str(f"{case.spec.name}: 3D {case.spec.labels[value]}")
                    t = one_click_3d(runner, case, value)
                    trials3d.append({"method": runner.name, "case": case.spec.name, **extra, "modality": case.modality,
                                     "structure": concept.id, "label": case.spec.labels[value], **t})
                    bar.update()
            runner.close()
    bar.close()

    firsts = list(opts.first_prompts)
    results: dict[str, Any] = {
        "benchmark": "medpclip patient-level benchmark (docs/BENCHMARK.md, patient-level mode)",
        "protocol": {"mode": "patients", "scope": "all labelled slices of held-out patients",
                     "patients": list(opts.patients), "clicks": opts.clicks, "first_prompts": firsts,
                     "noc_max": max(opts.clicks, opts.noc_max), "min_pixels": opts.min_pixels,
                     "holdout_fraction": FULL_EXTENT, "max_slices_per_case": max_slices,
                     "max_trials_per_case": opts.max_trials,
                     "slices": "every labelled axial slice (eval_slices(label, 1.0)), at most max_slices_per_case "
                               "per case, evenly spaced over the labelled slices",
                     "volumes_3d": False, "one_click_3d": opts.volumes and ours is not None,
                     "first_click_answers": opts.alternatives and ours is not None,
                     "data": [str(d) for d in ([opts.data] if isinstance(opts.data, (str, Path)) else opts.data)],
                     "cases": [c.spec.name for c in cases], "case_info": who, "skipped": skipped,
                     "items_2d": sum(len(p[2]) for p in plan), "items_3d_one_click": sum(len(p[3]) for p in plan),
                     "dataset_rule": "meta.json 'dataset', else medpclip.evaluation.patients.dataset_name(case name)",
                     "averaging": "per dataset: mean over its items; dataset average: mean over datasets"},
        "methods": method_summaries(runners, trials2d, [], dataclasses.replace(opts, volumes=False)),
        **patient_summaries(trials2d, trials3d, opts.methods, firsts, opts.clicks, opts.patients, who),
        "trials_2d": trials2d,
        "trials_3d": [],
        "trials_3d_one_click": trials3d,
    }
    results["environment"] = environment(engine, opts, start)
    results["environment"]["wall_s"] = start.wall_s()
    write_outputs(results, opts, examples, render=markdown)
    return results


# -- report ---------------------------------------------------------------------------------------------------
def _row(label: str, group: dict[str, Any], methods: Sequence[str], firsts: Sequence[str], ks: Sequence[int],
         answers: Sequence[int] = ()) -> str:
    cells = [label]
    n = group["methods"].get(methods[0], {}).get(firsts[0], {}).get("n") if methods else None
    cells.append(fmt(n))
    for m in methods:
        e = group["methods"].get(m, {})
        if "click" in firsts:
            cells += [fmt(e.get("click", {}).get(f"dice@{k}")) for k in ks]
        if "box" in firsts:
            cells.append(fmt(e.get("box", {}).get("dice@1")))
    ours = group["methods"].get("medpclip", {}).get(firsts[0], {})
    if "medpclip" in methods:
        click = group["methods"].get("medpclip", {}).get("click", {})
        cells += [fmt(click.get(f"best_of_{k}_answers")) for k in answers]
        cells += [fmt(ours.get("top1")), fmt(ours.get("top5")), fmt(ours.get("top1_together"))]
    d3 = group.get("one_click_3d", {})
    if d3.get("n"):
        cells += [fmt(d3.get("n")), fmt(d3.get("dice")), fmt(d3.get("slices_mean"), 1),
                  f"{d3.get('stopped_after_1')} / {d3.get('n')}"]
    else:
        cells += ["-", "-", "-", "-"]
    return "| " + " | ".join(cells) + " |"


def markdown(results: dict[str, Any]) -> str:
    p, env = results["protocol"], results.get("environment", {})
    methods = list(results["methods"])
    firsts = p["first_prompts"]
    ks = [k for k in TABLE_CLICKS if k <= p["clicks"]]
    ck = env.get("checkpoint", {})
    head = ["dataset", "n 2D"]
    for m in methods:
        if "click" in firsts:
            head += [f"{m} click Dice@{k}" for k in ks]
        if "box" in firsts:
            head.append(f"{m} box Dice@1")
    answers = (2, 3) if p.get("first_click_answers") and "click" in firsts else ()
    if "medpclip" in methods:
        head += [f"first click, best of {k} answers" for k in answers] + ["Top-1 (mask)", "Top-5 (mask)",
                                                                          "Top-1 (named together)"]
    head += ["3D n", "3D one-click Dice", "3D slices (mean)", "3D stopped after 1 slice"]
    lines = ["# MedP-CLIP patient-level benchmark", "",
             f"- date (UTC): {env.get('date_utc')}; command: `{env.get('command')}`",
             f"- machine: {env.get('cpu')} ({env.get('cpu_count')} cores), torch {env.get('torch')} with "
             f"{env.get('torch_threads')} threads on {env.get('device', 'cpu')} ({env.get('precision', 'fp32')}); "
             f"wall time {env.get('wall_s')} s",
             f"- checkpoint: {ck.get('path')} (sha256 {str(ck.get('sha256'))[:12]}, steps {ck.get('steps')})",
             f"- patients: {', '.join(p['patients'])}",
             f"- {len(p['cases'])} cases, {p['items_2d']} (slice, structure) items on every labelled slice (at most "
             f"{p['max_slices_per_case']} slices per case, {p['max_trials_per_case'] or 'all'} largest items per case), "
             f"{p['items_3d_one_click']} one-click 3D structures; structures >= {p['min_pixels']} px; "
             f"{p['clicks']} interactions", ""]
    if p.get("skipped"):
        lines += ["Skipped cases (could not be loaded): " + "; ".join(f"{s['case']}: {s['reason']}" for s in p["skipped"]), ""]
    lines += ["## Per dataset", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ds, g in results["datasets"].items():
        lines.append(_row(ds, g, methods, firsts, ks, answers))
    lines.append(_row("**dataset average**", results["dataset_average"], methods, firsts, ks, answers))
    lines += ["", "2D: mean over a dataset's (slice, structure) items; click Dice@k after k interactions (first click "
              "at the max-EDT point, then correction clicks), box Dice@1 from the tight box alone. Top-1 / Top-5: "
              "MedP-CLIP naming the structure from its mask among the case's own label names (a case with one label "
              "is trivially right); named together: the evaluated structures of each slice named at once, a "
              "different name each (`identify --together`). First click, best of k answers (with --alternatives): the best Dice among the "
              "first k of the model's answers to the first click (prompt 'alternative' 0..k-1), what a user who "
              "steps through them gets. 3D: one click at the deepest point of the structure's largest axial slice, "
              "`mode: 3d`, volume Dice over the whole volume; MedP-CLIP only, cases with more than one slice. The "
              "dataset average weighs each dataset the same.", ""]
    warn = results["dataset_average"].get("one_click_3d", {}).get("warnings") or {}
    if warn:
        lines += ["One-click 3D result warnings (structures with each kind; slice numbers replaced by N):", ""]
        lines += [f"- {c}x: {w}" for w, c in sorted(warn.items(), key=lambda x: -x[1])] + [""]
    lines += ["## Per patient", "", "| " + " | ".join(["patient"] + head[1:]) + " |", "|" + "---|" * len(head)]
    for pid, g in results["per_patient"].items():
        lines.append(_row(pid, g, methods, firsts, ks, answers))
    t3 = results.get("trials_3d_one_click", [])
    if t3:
        lines += ["", "## One-click 3D, per structure", "",
                  "| case | structure | Dice | slices reached / on target / target extent | score | warnings |",
                  "|---|---|---|---|---|---|"]
        for t in t3:
            warned = "<br>".join(t["warnings"]) or "-"
            lines.append(f"| {t['case']} | {t['label']} | {t['dice']:.3f} | {t['slices']} / {t['slices_on_target']} / "
                         f"{t['target_slices']} | {t['score']:.2f} | {warned} |")
    lines += plots_section(results)
    return "\n".join(lines) + "\n"

"""The benchmark harness (issue 7, DESIGN.md section 8): MedP-CLIP and its peers on the same prompts, one run.

Per case, on the held-out axial slices only (``data.holdout.eval_slices``: the trained model never sees them):

- 2D, per (slice, structure >= ``min_pixels`` px), for each first prompt (one click at the max-EDT point, or the
  tight box): correction clicks at the max-EDT point of the largest error component (positive if missed, negative
  if spilled), each method's own previous result deciding its next click (``protocol.simulate``). Dice / IoU after
  every interaction; Dice@1/3/5/9; NoC@85 / NoC@90 on IoU, simulated up to ``noc_max`` (20) interactions, cap 20.
- 3D, per structure present (>= ``min_pixels`` px) on a held-out slice: the structure's tight 3D box *within the
  held-out slab*, prompted on the box's middle slice (MedP-CLIP propagates inside the box; the baselines run in 3D
  from the same box), then 3D correction clicks at the max-EDT point (in mm) of the largest 3D error component.
  Dice and surface Dice (tolerance ``surface_tolerance_mm``) over the slab.
- Recognition (MedP-CLIP): per 2D item, the structure prompted by its mask, its box and one click; the case's own
  label names ranked (Top-1 / Top-5) and the whole vocabulary (Top-1).
- Latency: trunk per slice on a cold session, per click on cached slices, 3D propagation on a cold session; and
  the compute of a SAM ViT-B (1024 x 1024) encoder + decoder on the same slices, as a ratio to ours.

Outputs: ``results.json``, ``results.md``, ``dice_vs_clicks.png`` and ``example_*.png`` in the output folder.

This module holds the options and the orchestration; the parts live by job: ``items`` (cases, items), ``runners``
(the methods, the 2D / 3D protocol runs), ``metrics`` (3D metrics), ``speed`` (latency, SAM speed peer),
``summaries`` and ``report`` (environment, outputs, plots, results.md). With ``BenchmarkOptions.patients`` the same
harness runs patient-level instead (``patients.py``): only the listed patients' cases, every labelled slice,
results per dataset. ``medpclip evaluate`` is its 2D protocol for MedP-CLIP alone (``evaluate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from ..data.cases import Case, load_case
from ..data.geometry import extract_slice
from ..data.holdout import DEFAULT_FRACTION, slice_holdout_fraction
from .items import Item2D, Item3D, case_items, load_specs
from .protocol import NOC_CAP
from .report import RunStart, environment, overlay_choice, write_outputs
from .runners import METHODS, MethodRunner, make_runners, medpclip_runner, run_3d, run_items_2d, warm_up_classical
from .speed import cold_latency, latency_summary, sam_speed_peer
from .summaries import method_summaries, per_structure

if TYPE_CHECKING:
    from ..engine.session import Engine

Plan = list[tuple[Case, list[int], list[Item2D], list[Item3D]]]   # per case: slab, 2D items, 3D structures


@dataclass
class BenchmarkOptions:
    data: str | Sequence[str]          # datalist JSON(s) / data root(s) (``load_specs``)
    out: str
    methods: tuple[str, ...] = METHODS
    clicks: int = 9
    first_prompts: tuple[str, ...] = ("click", "box")
    noc_max: int = NOC_CAP             # interactions simulated for NoC (0: only ``clicks``)
    min_pixels: int = 20
    volumes: bool = True               # the 3D protocol
    max_cases: int | None = None
    max_trials: int | None = None      # per case: the N largest 2D items and the N largest 3D structures
    holdout_fraction: float | None = None  # None: the checkpoint's own hold-out fraction (default 0.2)
    max_slices: int | None = None      # per case, at most N evaluated slices, evenly spaced (``case_items``)
    views: str | None = None           # engine view mode: prompt (default), context, whole (the first release)
    patients: tuple[str, ...] | None = None  # patient-level mode (evaluation/patients.py): these patients' cases
    surface_tolerance_mm: float = 3.0
    sam_repeats: int = 2               # timed SAM encoder runs (0: compute (FLOPs) comparison only)
    overlays: int = 4
    alternatives: bool = False         # also each of MedP-CLIP's answers to the first click (prompt ``alternative``)
    progress: bool = True
    command: str = ""


def run_benchmark(engine: Engine | None, opts: BenchmarkOptions) -> dict[str, Any]:
    from tqdm import tqdm

    start = RunStart()
    fraction = opts.holdout_fraction
    if fraction is None:
        fraction = slice_holdout_fraction(engine.checkpoint.provenance) if engine else DEFAULT_FRACTION
    specs = load_specs(opts.data)
    if opts.max_cases:
        specs = specs[: opts.max_cases]
    cases = [load_case(s) for s in specs]
    plan: Plan = [(case, *case_items(case, fraction, opts.min_pixels, opts.max_trials, opts.max_slices))
                  for case in cases]
    runners = make_runners(opts.methods, engine, opts.views)
    ours = medpclip_runner(runners)
    total = sum(len(runners) * (len(i2) * len(opts.first_prompts) + (len(i3) if opts.volumes else 0)) for _, _, i2, i3 in plan)
    bar = tqdm(total=total, desc="benchmark", unit="trial", disable=not opts.progress, dynamic_ncols=True)
    warm_up_classical(runners)

    trials2d: list[dict] = []
    trials3d: list[dict] = []
    cold: dict[str, list[float]] = {"trunk_ms": [], "propagate_slices": [], "propagate_s": []}
    examples: list[dict] = []
    overlay_keys = overlay_choice(plan, opts.overlays)
    dataset_names = list(dict.fromkeys(c.spec.labels[v] for c, *_ in plan for v in c.concepts))
    for case, slab, items2d, items3d in plan:
        names = [case.spec.labels[v] for v in case.concepts]
        if ours is not None:
            bar.set_postfix_str(f"{case.spec.name}: latency")
            for k, v in cold_latency(engine, case, slab, items3d).items():
                cold[k] += v
        for runner in runners:
            bar.set_postfix_str(f"{case.spec.name}: {runner.name}")
            runner.open(case, encode=slab)
            trials2d += run_items_2d(runner, case, items2d, opts, names, dataset_names, overlay_keys, examples, bar.update)
            if opts.volumes:
                for item in items3d:
                    trials3d.append(run_3d(runner, case, slab, item, opts))
                    bar.update()
            runner.close()
    bar.close()

    results = _assemble(opts, runners, trials2d, trials3d, cold, fraction, plan)
    results["environment"] = environment(engine, opts, start)
    if ours is not None:
        slices = [extract_slice(case.canon_image, "axial", slab[len(slab) // 2]) for case, slab, _, _ in plan]
        lat = results["latency"]
        results["sam_speed_peer"] = sam_speed_peer(engine, slices, lat["trunk_ms_median"], lat["click_model_ms_median"],
                                                   opts.sam_repeats)
    else:
        results["sam_speed_peer"] = {"available": False, "reason": "medpclip was not among the methods"}
    results["environment"]["wall_s"] = start.wall_s()
    write_outputs(results, opts, examples)
    return results


def _assemble(opts: BenchmarkOptions, runners: Sequence[MethodRunner], trials2d: list[dict], trials3d: list[dict],
              cold: dict[str, list[float]], fraction: float, plan: Plan) -> dict[str, Any]:
    return {
        "benchmark": "medpclip interactive benchmark (DESIGN.md section 8)",
        "protocol": {"clicks": opts.clicks, "first_prompts": list(opts.first_prompts), "noc_max": max(opts.clicks, opts.noc_max),
                     "noc_cap": NOC_CAP, "min_pixels": opts.min_pixels, "holdout_fraction": fraction,
                     "slices": "held-out axial slices only (medpclip.data.holdout.eval_slices)",
                     "volumes_3d": opts.volumes, "surface_tolerance_mm": opts.surface_tolerance_mm,
                     "max_trials_per_case": opts.max_trials, "cases": [c.spec.name for c, *_ in plan],
                     "items_2d": sum(len(i2) for _, _, i2, _ in plan), "items_3d": sum(len(i3) for *_, i3 in plan)},
        "methods": method_summaries(runners, trials2d, trials3d, opts),
        "latency": latency_summary(medpclip_runner(runners), cold),
        "per_structure": per_structure(trials2d, trials3d, opts.clicks),
        "trials_2d": trials2d,
        "trials_3d": trials3d,
    }

"""``medpclip benchmark``: MedP-CLIP and its peers (GrowCut, region growing) on held-out slices, one run; with
``--patients``, on every labelled slice of held-out patients, per dataset (``patients.py``).

Registered in ``medpclip.cli.COMMANDS`` through ``add_benchmark``. See docs/BENCHMARK.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .protocol import REPORT_CLICKS
from .runners import METHODS


def add_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="benchmark MedP-CLIP against GrowCut and region growing (Dice vs clicks, "
                       "NoC, recognition, latency, SAM speed peer) on held-out slices")
    p.add_argument("--data", required=True, action="append",
                   help="decathlon-style datalist JSON or a folder of case folders; repeat for more (with --patients, "
                        "sub-folders without an image are walked one level down)")
    p.add_argument("--patients", metavar="ID,ID,...",
                   help="patient-level mode: only these patients' cases (meta.json 'patient', else the case name), "
                        "every labelled slice, results per dataset")
    p.add_argument("--patients-file", metavar="FILE", help="patient ids, one per line (or comma separated; # comments)")
    p.add_argument("--max-slices-per-case", type=int, metavar="N",
                   help="at most N evaluated slices per case, evenly spaced (patient mode default: 6; else all "
                        "held-out slices)")
    p.add_argument("--out", required=True, help="output folder: results.json, results.md, PNG plots")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    p.add_argument("--clicks", type=int, help="interactions per trial (first prompt + corrections); default 9, "
                   "patient mode 5")
    p.add_argument("--first", default="click,box", help="first prompts for the 2D protocol: click, box")
    p.add_argument("--noc-max", type=int,
                   help="keep clicking up to this many interactions until IoU 0.90 (NoC); 0 = only --clicks; "
                        "default 20, patient mode 0")
    p.add_argument("--min-pixels", type=int, default=20, help="skip structures smaller than this on a slice")
    p.add_argument("--no-3d", action="store_true", help="skip the 3D protocol (box + propagation + 3D clicks; "
                   "patient mode: one click + propagation)")
    p.add_argument("--alternatives", action="store_true",
                   help="also Dice of each of MedP-CLIP's answers to the first click (the prompt's 'alternative'; "
                        "reported as the best of the first 2, 3 answers)")
    p.add_argument("--max-cases", type=int, help="only the first N cases")
    p.add_argument("--max-trials", type=int, help="per case, only the N largest 2D items and N largest 3D structures")
    p.add_argument("--holdout-fraction", type=float, help="default: the checkpoint's own (0.2)")
    p.add_argument("--surface-tolerance", type=float, default=3.0, help="surface Dice tolerance in mm")
    p.add_argument("--sam-repeats", type=int, default=2,
                   help="timed SAM ViT-B encoder runs for the speed peer (0: FLOPs only)")
    p.add_argument("--overlays", type=int, default=4, help="example overlay PNGs (one per case, largest structure)")
    p.add_argument("--views", choices=("prompt", "context", "whole"),
                   help="what MedP-CLIP looks at: prompt-centred views (default), the body's view only, or the whole "
                        "slice as the first release did (docs/DESIGN-NOTES.md)")
    p.add_argument("--protocol", choices=("clicks", "strokes", "scribbles"), default="clicks",
                   help="clicks (default): the click / box protocol; strokes: Dice after 1..N simulated strokes, "
                        "MedP-CLIP vs GrowCut on the same strokes (docs/BENCHMARK.md 'Strokes'); scribbles: "
                        "annotator-style scribbles, every structure and the background stroked, sent at once")
    p.add_argument("--strokes", type=int, default=3, help="strokes per item (--protocol strokes)")
    p.add_argument("--max-items", type=int, default=60, help="items in all (--protocol strokes / scribbles)")
    p.add_argument("--background-span", type=float, default=180.0,
                   help="degrees of the background stroke around the target (--protocol scribbles; 360: all round)")
    p.add_argument("--checkpoint", help="model checkpoint (.safetensors); default: the bundled one")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores up to 8)")
    p.add_argument("--precision", help="auto (default, MEDPCLIP_PRECISION), fp32, bf16, fp16 (CUDA)")
    p.add_argument("--json", action="store_true", help="print the results (without per-trial lists) as JSON")
    p.set_defaults(func=cmd_benchmark)


def cmd_benchmark(args: argparse.Namespace) -> int:
    from ..errors import CLIError
    from .benchmark import BenchmarkOptions, run_benchmark
    from .patients import PATIENT_CLICKS, PatientSelectionError, parse_patients, resolve_cases, run_patient_benchmark
    from .report import brief

    patient_mode = args.patients is not None or args.patients_file is not None
    if args.protocol == "strokes":
        return _stroke_benchmark(args, patient_mode)
    if args.protocol == "scribbles":
        return _scribble_benchmark(args, patient_mode)
    if args.clicks is None:
        args.clicks = PATIENT_CLICKS if patient_mode else 9
    if args.noc_max is None:
        args.noc_max = 0 if patient_mode else 20
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise CLIError(f"--methods: unknown method(s) {bad or args.methods!r}; use {', '.join(METHODS)}")
    firsts = tuple(f.strip() for f in args.first.split(",") if f.strip())
    if not firsts or any(f not in ("click", "box") for f in firsts):
        raise CLIError(f"--first {args.first!r}: use click, box or click,box")
    if args.clicks < 1:
        raise CLIError("--clicks must be at least 1")
    for flag in ("max_cases", "max_trials", "max_slices_per_case"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise CLIError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.holdout_fraction is not None and not 0 < args.holdout_fraction < 1:
        raise CLIError("--holdout-fraction must be between 0 and 1")
    patients, specs = None, None
    if patient_mode:
        if args.holdout_fraction is not None:
            raise CLIError("--holdout-fraction does not apply with --patients (every labelled slice is evaluated)")
        try:
            patients = parse_patients(args.patients, args.patients_file)
        except PatientSelectionError as exc:
            raise CLIError(str(exc)) from None
    opts = BenchmarkOptions(data=args.data, out=args.out, methods=methods, clicks=args.clicks, first_prompts=firsts,
                            noc_max=max(0, args.noc_max), min_pixels=args.min_pixels, volumes=not args.no_3d,
                            max_cases=args.max_cases, max_trials=args.max_trials,
                            holdout_fraction=args.holdout_fraction, max_slices=args.max_slices_per_case,
                            patients=patients, views=args.views, surface_tolerance_mm=args.surface_tolerance,
                            sam_repeats=max(0, args.sam_repeats), overlays=max(0, args.overlays),
                            alternatives=args.alternatives,
                            progress=not args.json, command="medpclip " + " ".join(sys.argv[1:]))
    if patient_mode:  # the case selection fails fast, before the model loads
        specs = resolve_cases(opts)
    engine = None
    if "medpclip" in methods:
        from ..engine import Engine

        engine = Engine.from_checkpoint(args.checkpoint, device=args.device, threads=args.threads,
                                        precision=args.precision)
    else:
        from ..engine.device import configure_threads

        configure_threads(args.threads)
    if patient_mode:
        results = run_patient_benchmark(engine, opts, specs)
    else:
        results = run_benchmark(engine, opts)
    if args.json:
        print(json.dumps(brief(results), indent=2, default=str))
    elif patient_mode:
        _print_patient_summary(results, args.out)
    else:
        _print_summary(results, args.out)
    return 0


def _stroke_cases(args: argparse.Namespace, patient_mode: bool):
    """The cases and the engine of a stroke or scribble protocol run (one-line errors for bad options)."""
    from ..engine import Engine
    from ..errors import CLIError
    from .items import load_specs
    from .patients import PatientSelectionError, parse_patients, select_patients

    if args.strokes < 1 or args.max_items < 1:
        raise CLIError("--strokes and --max-items must be at least 1")
    if not 0 < args.background_span <= 360:
        raise CLIError("--background-span must be more than 0 and at most 360 degrees")
    specs = load_specs(args.data, walk=True)
    if patient_mode:
        try:
            specs = select_patients(specs, parse_patients(args.patients, args.patients_file))
        except PatientSelectionError as exc:
            raise CLIError(str(exc)) from None
    if not specs:
        raise CLIError(f"no labelled case in {', '.join(args.data)}")
    engine = Engine.from_checkpoint(args.checkpoint, device=args.device, threads=args.threads,
                                    precision=args.precision)
    return specs, engine


def _stroke_benchmark(args: argparse.Namespace, patient_mode: bool) -> int:
    from .stroke_benchmark import run_stroke_benchmark, write_stroke_results

    specs, engine = _stroke_cases(args, patient_mode)
    results = run_stroke_benchmark(engine, specs, args.strokes, args.max_items, progress=not args.json,
                                   command="medpclip " + " ".join(sys.argv[1:]))
    path = write_stroke_results(results, args.out)
    brief = {k: v for k, v in results.items() if k != "trials"}
    if args.json:
        print(json.dumps(brief, indent=2))
    else:
        for method in ("medpclip", "growcut"):
            print(f"{method:<9} " + " ".join(f"{k} {v}" for k, v in results[method].items()))
        print(f"first stroke {results['first_stroke_ms_median']} ms, click {results['click_ms_median']} ms; "
              f"{results['items']} items; wrote {path}")
    return 0


def _scribble_benchmark(args: argparse.Namespace, patient_mode: bool) -> int:
    from .scribbles import run_scribble_benchmark, write_scribble_results

    specs, engine = _stroke_cases(args, patient_mode)
    results = run_scribble_benchmark(engine, specs, args.max_items, args.background_span, progress=not args.json,
                                     command="medpclip " + " ".join(sys.argv[1:]))
    path = write_scribble_results(results, args.out)
    if args.json:
        print(json.dumps({k: v for k, v in results.items() if k != "trials"}, indent=2))
    else:
        for name, d in [*results["datasets"].items(), ("dataset average", results["dataset_average"])]:
            print(f"{name:<16} MedP-CLIP {d.get('medpclip')}  GrowCut {d.get('growcut')}")
        print(f"answer {results['answer_ms_median']} ms median; {results['items']} items; wrote {path}")
    return 0


def _print_patient_summary(results: dict[str, Any], out: str) -> None:
    import logging

    log = logging.getLogger("medpclip")
    for name, g in [*results["datasets"].items(), ("dataset average", results["dataset_average"])]:
        parts = []
        for m, e in g["methods"].items():
            c, b = e.get("click", {}), e.get("box", {})
            parts.append(f"{m} click Dice@1 {c.get('dice@1')} box Dice@1 {b.get('dice@1')}")
        d3 = g.get("one_click_3d", {})
        if d3.get("n"):
            parts.append(f"3D one-click Dice {d3.get('dice')} (n={d3['n']}, stopped after 1 slice: {d3['stopped_after_1']})")
        log.info("%s: %s", name, "; ".join(parts))
    log.info("wrote %s/results.json, results.md and plots", out)


def _print_summary(results: dict[str, Any], out: str) -> None:
    ks = [k for k in REPORT_CLICKS if k <= results["protocol"]["clicks"]]
    print("method       " + "".join(f"Dice@{k:<3} " for k in ks) + "NoC85  NoC90  (2D, first prompt: "
          f"{results['protocol']['first_prompts'][0]})")
    for m, e in results["methods"].items():
        print(f"{m:<12} " + "".join(f"{e.get(f'dice@{k}') or 0:<8.3f} " for k in ks)
              + f"{e.get('noc85', 0):<6.2f} {e.get('noc90', 0):<6.2f}")
    lat = results["latency"]
    if lat.get("trunk_ms_median") is not None:
        print(f"latency: trunk {lat['trunk_ms_median']} ms/slice, click {lat['click_ms_median']} ms (p95 "
              f"{lat['click_ms_p95']}), propagation {lat['propagate_slices_per_s']} slices/s")
    sam = results.get("sam_speed_peer", {})
    if sam.get("available"):
        print(f"SAM ViT-B speed peer: {sam['ratio']}x our compute ({sam['ratio_basis']})")
    print(f"wrote {out}/results.json, results.md and plots")

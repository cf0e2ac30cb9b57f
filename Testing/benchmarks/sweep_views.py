"""Engine view policy on held-out patients (not a test): the patient-level benchmark (MedP-CLIP only) once per
variant, same cases, same clicks. Used to choose the engine's view policy on patients the checkpoint never saw.

    .venv/bin/python Testing/benchmarks/sweep_views.py --checkpoint CKPT --out runs/sweep [--variants a,b]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import medpclip.engine.policy as session_module
from medpclip.engine import Engine
from medpclip.evaluation.benchmark import BenchmarkOptions
from medpclip.evaluation.patients import run_patient_benchmark
from medpclip.model.checkpoint import REPO_ROOT

HELDOUT = "BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1"
VARIANTS = {  # name -> session module settings
    "whole": {"DEFAULT_VIEWS": "whole"},
    "context": {"DEFAULT_VIEWS": "context"},
    "prompt": {"DEFAULT_VIEWS": "prompt"},
    "box_pick_by_score": {"DEFAULT_VIEWS": "prompt", "BOX_PICK_BY_SCORE": True},
    "prompt_small_only": {"DEFAULT_VIEWS": "prompt", "REFINE_SKIP_SHARE": 0.35},
    "prompt_feedback": {"DEFAULT_VIEWS": "prompt", "REFINE_FEEDBACK": True},
    "hybrid": {"DEFAULT_VIEWS": "prompt", "BOX_OBJECT_VIEW": False, "PROPAGATION_OBJECT_VIEW": False},
    "hybrid_noname": {"DEFAULT_VIEWS": "prompt", "BOX_OBJECT_VIEW": False, "PROPAGATION_OBJECT_VIEW": False,
                      "STOP_SCORE": 0.3, "GROW": 4.0, "GROW_TOTAL": 3.0, "TOP_K": 10_000},
    # 3D stop rules (with --only-3d)
    "stop_q0.5": {"STOP_SCORE": 0.5},
    "stop_q0.3": {"STOP_SCORE": 0.3},
    "stop_q0.1": {"STOP_SCORE": 0.1},
    "stop_q0.3_noname": {"STOP_SCORE": 0.3, "TOP_K": 10_000},
    "stop_q0.1_noname": {"STOP_SCORE": 0.1, "TOP_K": 10_000},
    "stop_q0.3_grow4": {"STOP_SCORE": 0.3, "GROW": 4.0, "GROW_TOTAL": 3.0},
    "stop_q0.3_grow4_noname": {"STOP_SCORE": 0.3, "GROW": 4.0, "GROW_TOTAL": 3.0, "TOP_K": 10_000},
    "stop_q0.3_grow6_noname": {"STOP_SCORE": 0.3, "GROW": 6.0, "GROW_TOTAL": 4.0, "TOP_K": 10_000},
    "stop_q0.2_grow4_noname": {"STOP_SCORE": 0.2, "GROW": 4.0, "GROW_TOTAL": 3.0, "TOP_K": 10_000},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint")
    ap.add_argument("--out", default=str(REPO_ROOT / "runs" / "sweep"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--patients", default=HELDOUT)
    ap.add_argument("--max-slices-per-case", type=int, default=3)
    ap.add_argument("--max-trials", type=int, default=6)
    ap.add_argument("--clicks", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only-3d", action="store_true", help="only the one-click 3D protocol")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = Engine.from_checkpoint(args.checkpoint, threads=args.threads)
    defaults = {k: getattr(session_module, k) for v in VARIANTS.values() for k in v}
    table = {}
    for name in args.variants.split(","):
        for k, v in {**defaults, **VARIANTS[name]}.items():
            setattr(session_module, k, v)
        opts = BenchmarkOptions(data=[str(REPO_ROOT.parent / "shared" / "training")], out=f"{args.out}/{name}",
                                methods=("medpclip",), clicks=1 if args.only_3d else args.clicks, noc_max=0, sam_repeats=0, overlays=0,
                                max_trials=args.max_trials, patients=tuple(args.patients.split(",")),
                                max_slices=args.max_slices_per_case, progress=False,
                                first_prompts=("box",) if args.only_3d else ("click", "box"))
        res = run_patient_benchmark(engine, opts)
        avg = res["dataset_average"]
        if args.only_3d:
            avg = {k: v for k, v in avg.items() if k == "one_click_3d"}
        table[name] = avg
        print(name, json.dumps(avg), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "sweep.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()

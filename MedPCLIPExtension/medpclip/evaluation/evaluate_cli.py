"""``medpclip evaluate``: held-out interactive evaluation of MedP-CLIP (``evaluate.py``, the benchmark's 2D protocol
for MedP-CLIP alone). Registered in ``medpclip.cli.COMMANDS`` through ``add_evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="held-out interactive evaluation (click protocol, recognition)")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint")
    p.add_argument("--clicks", type=int, default=9)
    p.add_argument("--first", default="click,box", help="first prompts: click, box")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--out", help="write the report JSON here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data.holdout import slice_holdout_fraction
    from ..engine import Engine
    from .evaluate import evaluate

    engine = Engine.from_checkpoint(args.checkpoint, device=args.device, threads=args.threads)
    holdout = slice_holdout_fraction(engine.checkpoint.provenance)
    firsts = tuple(x for x in args.first.split(",") if x)
    report = evaluate(engine, args.data, clicks=args.clicks, first_prompts=firsts, holdout_fraction=holdout,
                      progress=not args.json)
    report["checkpoint"] = {"path": str(engine.checkpoint.path), "sha256": engine.checkpoint.sha256}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    brief = {k: v for k, v in report.items() if k != "per_structure"}
    print(json.dumps(brief, indent=2, default=str))
    return 0

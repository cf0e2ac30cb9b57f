"""The ``medpclip`` command. Every sub-command calls the engine / training / evaluation code; errors
print one clear line on stderr and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

log = logging.getLogger("medpclip")

EXIT_USAGE = 2
EXIT_INPUT = 3


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code EXIT_INPUT."""


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- train --------------------------------------------------------------------------------------
def add_train(sub) -> None:
    p = sub.add_parser("train", help="train MedP-CLIP on labelled volumes (datalist JSON or case folders)")
    p.add_argument("--data", required=True, help="decathlon-style datalist JSON or a folder of case folders")
    p.add_argument("--config", default="tiny", help="model config (tiny, b16)")
    p.add_argument("--out", required=True, help="output folder (checkpoint, metrics.json, loss_curve.png)")
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint and state in --out")
    p.add_argument("--planes", default="axial", help="comma list of axial, coronal, sagittal")
    p.add_argument("--holdout-fraction", type=float, default=0.2, help="share of labelled slices held out per case")
    p.add_argument("--init-from", help="start from this checkpoint (fine-tuning)")
    p.add_argument("--max-minutes", type=float, help="stop and save after this wall time")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true", help="print a JSON summary (loss_start, loss_end, ...)")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from .training.trainer import TrainOptions, train

    planes = tuple(x.strip() for x in args.planes.split(",") if x.strip())
    bad = [x for x in planes if x not in ("axial", "coronal", "sagittal")]
    if bad or not planes:
        raise CLIError(f"--planes: unknown plane(s) {bad or args.planes!r}; use axial, coronal, sagittal")
    if args.max_steps < 1 or args.batch_size < 1:
        raise CLIError("--max-steps and --batch-size must be positive")
    opts = TrainOptions(data=args.data, out=args.out, config=args.config, max_steps=args.max_steps,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=args.resume, planes=planes,
                        holdout_fraction=args.holdout_fraction, init_from=args.init_from,
                        max_minutes=args.max_minutes, save_every=args.save_every, threads=args.threads,
                        command="medpclip " + " ".join(sys.argv[1:]))
    summary = train(opts, progress=not args.json)
    if args.json and summary:
        _print_json(summary)
    elif summary:
        log.info("trained %d steps: loss %.3f -> %.3f; checkpoint %s", summary["steps"], summary["loss_start"],
                 summary["loss_end"], summary["checkpoint"])
    return 0


COMMANDS: list[Callable] = [add_train]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medpclip", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "urllib3", "monai"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from .errors import USER_ERRORS

    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"medpclip {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except USER_ERRORS as exc:
        print(f"medpclip {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"medpclip {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``medpclip`` command. Every sub-command calls the engine / training / evaluation code; errors
print one clear line on stderr and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable

from .errors import EXIT_INPUT, EXIT_NOT_FOUND, USER_ERRORS, CLIError

log = logging.getLogger("medpclip")


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- shared flags -------------------------------------------------------------------------------
def _add_model_flags(p) -> None:
    p.add_argument("--checkpoint", help="model checkpoint (.safetensors); default: the bundled one")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores up to 8)")
    p.add_argument("--precision",
                   help="auto (default, MEDPCLIP_PRECISION): fp16 on CUDA, fp32 on CPU; or fp32, bf16, fp16")
    p.add_argument("--modality", help="CT or MR (default: from the file, else guessed)")
    p.add_argument("--window", default="abdomen", help="CT window preset (abdomen, soft_tissue, lung, bone, brain)")


def _add_prompt_flags(p, mode: bool = True) -> None:
    p.add_argument("--point", action="append", default=[], metavar="X,Y,Z[,L]",
                   help="a click; L = 1 positive (default) or 0 negative; repeat for more")
    p.add_argument("--box", metavar="X0,Y0,Z0,X1,Y1,Z1", help="a box (two opposite corners)")
    p.add_argument("--prompt", metavar="FILE.json", help="a prompt in the JSON contract (DESIGN.md section 6)")
    p.add_argument("--space", default="ijk", choices=("ijk", "ras", "lps"), help="coordinate space of the flags")
    p.add_argument("--plane", default="axial", choices=("axial", "coronal", "sagittal"))
    p.add_argument("--slice", type=int, help="slice index of the input image along the plane's axis")
    if mode:
        p.add_argument("--mode", default="2d", choices=("2d", "3d"))


def _floats(text: str, n: tuple[int, ...], what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"{what} {text!r}: expected comma-separated numbers") from None
    if len(vals) not in n:
        raise CLIError(f"{what} {text!r}: expected {' or '.join(map(str, n))} numbers")
    return vals


def _prompt_from_args(args, mode: str | None = None) -> dict | None:
    prompt: dict = {}
    if args.prompt:
        try:
            prompt = json.loads(Path(args.prompt).read_text())
        except OSError as exc:
            raise CLIError(f"--prompt {args.prompt}: cannot read ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise CLIError(f"--prompt {args.prompt}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(prompt, dict):
            raise CLIError(f"--prompt {args.prompt}: must hold a JSON object")
    if args.point or args.box:
        pts, labels = [], []
        for text in args.point:
            v = _floats(text, (3, 4), "--point")
            if len(v) == 4 and v[3] not in (0.0, 1.0):
                raise CLIError(f"--point {text!r}: the label must be 1 or 0")
            pts.append(v[:3])
            labels.append(int(v[3]) if len(v) == 4 else 1)
        prompt.update({"space": args.space, "points": prompt.get("points", []) + pts,
                       "point_labels": prompt.get("point_labels", []) + labels})
        if args.box:
            prompt["box"] = _floats(args.box, (6,), "--box")
    if not prompt:
        return None
    prompt.setdefault("plane", args.plane)
    if args.slice is not None:
        prompt["slice"] = args.slice
    if mode:
        prompt["mode"] = mode
    return prompt


def _open(args):
    from .data.volume import read_image
    from .engine import Engine

    volume = read_image(args.image, modality=args.modality)  # before the model: bad input fails fast
    engine = Engine.from_checkpoint(args.checkpoint, device=args.device, threads=args.threads,
                                    precision=args.precision)
    return engine, engine.open(volume, window=args.window)


def _read_mask(path: str, session, value: int | None = None):
    from .data.volume import read_mask

    return read_mask(path, session.volume, value, what=f"--mask {path}")


def _read_strokes(path: str, session):
    from .data.volume import read_label

    strokes = read_label(path, like=session.volume).array
    if not strokes.any():
        raise CLIError(f"--scribbles {path}: the strokes map is empty (1 = positive, 2 = negative stroke)")
    return strokes


# -- segment --------------------------------------------------------------------------------------
def add_segment(sub) -> None:
    p = sub.add_parser("segment", help="segment a region from clicks / a box (2D or 3D)")
    p.add_argument("image", help="image file (NIfTI, NRRD, MHA) or DICOM series folder")
    _add_prompt_flags(p)
    _add_model_flags(p)
    p.add_argument("--prior", metavar="MASK", help="a prior mask (label file) used as a mask prompt")
    p.add_argument("--scribbles", metavar="STROKES", help="a strokes label map on the image grid (1 = positive, "
                   "2 = negative stroke; as Slicer's paint tools make it)")
    p.add_argument("--out", required=True, help="output: .nii.gz, .nrrd, .seg.nrrd, or .dcm (DICOM SEG, DICOM input)")
    p.add_argument("--png", help="PNG overlay of the prompted slice")
    p.add_argument("--uncertainty", metavar="MAP", help="write a per-voxel uncertainty map (0..1)")
    p.add_argument("--alternative", type=int, metavar="K",
                   help="one positive --point alone: the model's K-th other answer to it (1, 2; 0 = its pick)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_segment)


def cmd_segment(args) -> int:
    from .engine.outputs import save_overlay, save_result, write_float_map

    prompt = _prompt_from_args(args, args.mode)
    if prompt is None and args.scribbles:
        prompt = {"plane": args.plane, "mode": args.mode, **({"slice": args.slice} if args.slice is not None else {})}
    if prompt is None:
        raise CLIError("give at least one --point, a --box, --scribbles or a --prompt file")
    if args.alternative is not None:
        prompt["alternative"] = args.alternative
    from .engine.prompt import PromptSpec

    PromptSpec.from_dict(prompt)  # a bad prompt fails before the model loads
    _, session = _open(args)
    prior = _read_mask(args.prior, session) if args.prior else None
    strokes = _read_strokes(args.scribbles, session) if args.scribbles else None
    result = session.segment(prompt, prior_mask=prior, with_uncertainty=bool(args.uncertainty), scribbles=strokes)
    out = save_result(result.mask, session.volume, args.out)
    summary = {"output": str(out), **result.summary()}
    if args.uncertainty:
        summary["uncertainty"] = str(write_float_map(result.uncertainty, session.volume, args.uncertainty))
    if args.png:
        spec = PromptSpec.from_dict(prompt)
        summary["png"] = str(save_overlay(session, result.mask, args.png, result.plane, result.slice_index,
                                          spec.points, spec.point_labels, space=spec.space))
    if args.json:
        _print_json(summary)
    else:
        log.info("wrote %s: %d voxels, quality %.2f, %.0f ms", out, result.voxels, result.score,
                 result.latency_ms["total_ms"])
        for warning in result.warnings:
            log.warning("%s", warning)
    return 0


# -- identify / embed ---------------------------------------------------------------------------------
def _region_args(p) -> None:
    p.add_argument("image")
    p.add_argument("--mask", help="label map of the region")
    p.add_argument("--label-value", type=int, help="use only this value of --mask")
    _add_prompt_flags(p, mode=False)
    _add_model_flags(p)
    p.add_argument("--json", action="store_true")


def _region_inputs(args, session):
    if args.mask:
        return {"mask": _read_mask(args.mask, session, args.label_value)}
    prompt = _prompt_from_args(args)
    if prompt is None:
        raise CLIError("give --mask or a prompt (--point / --box / --prompt)")
    return {"prompt": prompt}


def add_identify(sub) -> None:
    p = sub.add_parser("identify", help="name a region: ranked anatomical / lesion names")
    _region_args(p)
    p.add_argument("--vocabulary", help="names to rank: one per line, or a labels.json {value: name}")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--together", action="store_true",
                   help="name every label value of --mask at once, a different name each (the segments of one "
                        "segmentation are different structures)")
    p.set_defaults(func=cmd_identify)


def cmd_identify(args) -> int:
    from .data.vocabulary import read_vocabulary_file

    if args.top_k < 1:
        raise CLIError("--top-k must be at least 1")
    vocab = read_vocabulary_file(args.vocabulary) if args.vocabulary else None
    if args.together and (not args.mask or args.label_value is not None):
        raise CLIError("--together names every label value of a --mask label map (without --label-value)")
    _, session = _open(args)
    if args.together:
        return _identify_together(args, session, vocab)
    candidates = session.identify(**_region_inputs(args, session), vocabulary=vocab, top_k=args.top_k)
    if args.json:
        _print_json({"candidates": candidates})
    else:
        for c in candidates:
            print(f"{c['score']:.3f}  {c['name']}  ({c.get('code') or c['id']})")
    return 0


def _identify_together(args, session, vocab) -> int:
    from .data.volume import read_label
    from .engine.recognition import name_label_values

    segments = name_label_values(session, read_label(args.mask, like=session.volume).array, vocab, args.top_k)
    if args.json:
        _print_json({"segments": segments})
    else:
        for c in segments:
            print(f"{c['value']}: {c['name']}  ({c['score']:.3f}; alone: {c['alone']})")
    return 0


def add_embed(sub) -> None:
    p = sub.add_parser("embed", help="region (or whole-slice) embedding for downstream models")
    _region_args(p)
    p.add_argument("--out", required=True, help="output .npy")
    p.set_defaults(func=cmd_embed)


def cmd_embed(args) -> int:
    from .engine.outputs import write_embedding

    _, session = _open(args)
    try:
        inputs = _region_inputs(args, session)
    except CLIError:
        if args.mask or args.point or args.box or args.prompt:
            raise
        inputs = {}  # no region: the global (whole-image) embedding
    vec = session.embed(**inputs) if inputs else session.region_embedding().cpu().numpy()
    out = write_embedding(vec, args.out)
    if args.json:
        _print_json({"output": str(out), "dim": int(vec.shape[0]), "norm": round(float((vec ** 2).sum() ** 0.5), 4)})
    return 0


# -- find ------------------------------------------------------------------------------------------
def add_find(sub) -> None:
    p = sub.add_parser("find", help="text -> segmentation of the best-matching region (exit code 1, nothing "
                       "written, when nothing in the image matches)")
    p.add_argument("image")
    p.add_argument("--text", required=True)
    p.add_argument("--mode", default="3d", choices=("2d", "3d"))
    _add_model_flags(p)
    p.add_argument("--out", required=True)
    p.add_argument("--png")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find)


def cmd_find(args) -> int:
    from .engine.outputs import save_overlay, save_result

    _, session = _open(args)
    result = session.find(args.text, mode=args.mode)
    if not result.found["found"]:  # a clean "no": nothing written, exit code 1
        if args.json:
            _print_json({"output": None, "text": args.text, **result.summary()})
        for warning in result.warnings:
            log.warning("%s", warning)
        return EXIT_NOT_FOUND
    out = save_result(result.mask, session.volume, args.out, name=args.text)
    summary = {"output": str(out), "text": args.text, **result.summary()}
    if args.png:
        summary["png"] = str(save_overlay(session, result.mask, args.png, title=f"find: {args.text}"))
    if args.json:
        _print_json(summary)
    return 0


# -- info ------------------------------------------------------------------------------------------
def add_info(sub) -> None:
    p = sub.add_parser("info", help="model, checkpoint and device facts")
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from .engine.device import pick_device, pick_precision
    from .model.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    device = pick_device(args.device)
    info = {
        "config": ckpt.model.cfg.name, "config_values": ckpt.model.cfg.to_dict(),
        "parameters": ckpt.model.parameter_counts(),
        "checkpoint": {"path": str(ckpt.path), "sha256": ckpt.sha256, "trained": ckpt.trained,
                       "steps": ckpt.provenance.get("steps"), "vocabulary_size": len(ckpt.vocabulary)},
        "device": str(device),
        "precision": pick_precision(None, device)[0],
    }
    if not ckpt.trained:
        info["warning"] = "this checkpoint is untrained (freshly initialised weights)"
    if args.json:
        _print_json(info)
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0


def _add_training(sub) -> None:
    from .training.commands import add_align, add_train

    add_train(sub)
    add_align(sub)


def _add_demo(sub) -> None:
    from .demo import add_demo

    add_demo(sub)


def _add_serve(sub) -> None:
    from .monailabel.serve import add_serve

    add_serve(sub)


def _add_evaluate(sub) -> None:
    from .evaluation.evaluate_cli import add_evaluate

    add_evaluate(sub)


def _add_benchmark(sub) -> None:
    from .evaluation.benchmark_cli import add_benchmark

    add_benchmark(sub)


def _add_web(sub) -> None:
    from .web.command import add_web

    add_web(sub)


COMMANDS: list[Callable] = [add_segment, add_identify, add_find, add_embed, add_info, _add_training, _add_evaluate, _add_demo,
                            _add_serve, _add_benchmark, _add_web]


def _itk_warnings(show: bool) -> None:
    """ITK prints its warnings straight to stderr (several lines each); errors reach the user as one line, so
    ITK's warnings are shown only with --verbose."""
    try:
        import SimpleITK as sitk
    except ImportError:
        return
    sitk.ProcessObject.SetGlobalWarningDisplay(show)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medpclip", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


VALUE_FLAGS = ("--point", "--box")


def _attach_negative_values(argv: list[str]) -> list[str]:
    """``--point -5,20,3`` -> ``--point=-5,20,3``: argparse takes a value starting with '-' (a negative RAS
    coordinate) for an option unless it is a plain number."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in VALUE_FLAGS and arg[:1] == "-" and (arg[1:2].isdigit() or arg[1:2] == "."):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_negative_values(sys.argv[1:] if argv is None else list(argv)))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "urllib3", "monai"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    _itk_warnings(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (CLIError, *USER_ERRORS) as exc:
        print(f"medpclip {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"medpclip {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # ``python -m medpclip.cli`` (torchrun's entry)
    sys.exit(main())

"""``medpclip train`` and ``medpclip align``: the training front-end (registered in ``medpclip.cli``)."""

from __future__ import annotations

import json
import logging
import sys

from ..errors import CLIError
from ..data.tumour_synth import CONTRASTS
from ..model.region_geometry import BASE_FEATURES, N_FEATURES, RING_FEATURES

log = logging.getLogger("medpclip")


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- train --------------------------------------------------------------------------------------
def add_train(sub) -> None:
    p = sub.add_parser("train", help="train MedP-CLIP on labelled volumes (datalist JSON or case folders)")
    p.add_argument("--data", required=True, help="decathlon-style datalist JSON or a folder of case folders "
                   "(several: comma-separated)")
    p.add_argument("--config", default="tiny", help="model config (tiny, b16)")
    p.add_argument("--out", required=True, help="output folder (checkpoint, metrics.json, loss_curve.png)")
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint and state in --out")
    p.add_argument("--planes", default="axial", help="comma list of axial, coronal, sagittal")
    p.add_argument("--holdout-fraction", type=float, default=0.2, help="share of labelled slices held out per case")
    p.add_argument("--init-from", help="start from this checkpoint's weights (fine-tuning; tensors whose name and "
                   "shape match are copied, new ones keep their initialisation)")
    p.add_argument("--warmup", type=int, default=100, help="linear warm-up steps before the cosine schedule")
    p.add_argument("--holdout-patients", default="", help="comma list of patient ids (meta.json 'patient') left "
                   "out of training entirely, for patient-level evaluation")
    p.add_argument("--synth", help="folder of label maps (+ labels.json) for SynthSeg-style synthetic images")
    p.add_argument("--synth-volumes", type=int, default=2, help="synthetic images per label map")
    p.add_argument("--synth-tumours", type=int, default=0, help="more synthetic images per label map of --synth "
                   "with a brain tumour drawn in (necrosis, enhancing rim, non-enhancing tumour, edema: "
                   "medpclip.data.tumour_synth); their sub-regions are the only targets")
    p.add_argument("--synth-tumour-share", type=float, default=0.0, help="share of samples from the tumour images "
                   "(0: they count as synthetic images, which together get 15 %%)")
    _add_tumour_contrast(p)
    p.add_argument("--max-slices-per-plane", type=int, help="per case and plane, at most this many slices "
                   "(evenly over the labelled extent)")
    p.add_argument("--stroke-share", type=float, default=0.0, help="share of region samples prompted by simulated "
                   "strokes (painted into the dense prompt map) instead of clicks / boxes / masks (issue 14)")
    p.add_argument("--local-view-share", type=float, default=0.0, help="share of region samples seen in a "
                   "click-centred view of random side (60-240 mm) that the structure does not frame, prompted by one "
                   "click (what a click's first pass in a view around the click sees)")
    p.add_argument("--annotator-stroke-share", type=float, default=0.0, help="share of those stroke samples painted "
                   "as scribble annotators paint (a main-axis stroke, neighbours' strokes, an arc of background; "
                   "data/stroke_sim.annotator_style_strokes); the others are free strokes of random kinds")
    p.add_argument("--wide-ct-looks", action="store_true", help="also show CT in wider 8-bit export looks (a "
                   "window of 0.6-1.6x contrast about mid-grey, level +-0.15, gamma 0.5-2; augment.wide_export_look): "
                   "400 steps from the shipped file held the first click better on CT exported with a wider window; in the "
                   "shipped 1400-step recipe, seed for seed, level to slightly better (docs/RESULTS.md, sessions 46-49)")
    p.add_argument("--trainable", default="", help="comma list of module names to train (others frozen), e.g. "
                   "dense_prompt; default: the whole model")
    p.add_argument("--clip-weight", type=float, default=1.0, help="weight of the region-text loss (0: train the "
                   "masks only, e.g. with --trainable dense_prompt, so that naming is left as it was)")
    p.add_argument("--iou-rank-weight", type=float, default=0.0, help="weight of a ranking loss that the IoU head "
                   "rates the best of a click's multimask outputs highest (0: MSE only)")
    p.add_argument("--correction-rounds", type=int, default=1, help="simulated correction clicks per step: a random "
                   "1..N, all but the last without gradients (1: one correction, as before)")
    p.add_argument("--boxes-on-box-output", action="store_true", help="train a box alone on the checkpoint's "
                   "box_output (the output the engine answers it with) instead of output 0; measured worse on 2026-12-05 "
                   "(docs/RESULTS.md)")
    p.add_argument("--distill-weight", type=float, default=0.0, help="weight of a loss that keeps every output's "
                   "answer to the first prompt near the --init-from model's (learning without forgetting; 0: off)")
    p.add_argument("--ema-decay", type=float, default=0.0, help="also save an exponential moving average of the "
                   "weights, updated after every step with this decay (e.g. 0.995), as medpclip_ema.safetensors beside "
                   "the plain weights; training itself is unchanged (0: off)")
    p.add_argument("--max-minutes", type=float, help="stop and save after this wall time")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true", help="print a JSON summary (loss_start, loss_end, ...)")
    p.set_defaults(func=cmd_train)


def _add_tumour_contrast(p) -> None:
    p.add_argument("--synth-tumour-contrast", choices=CONTRASTS, default="random",
                   help="the tumour sub-regions' intensities: random like every label, or FLAIR- / T1c-like against "
                   "the white matter (medpclip.data.tumour_synth.SEQUENCE_CONTRASTS)")


def _check_tumour_options(args) -> None:
    share = getattr(args, "synth_tumour_share", 0.0)
    if args.synth_tumours < 0 or not 0.0 <= share < 0.85:
        raise CLIError("--synth-tumours must be 0 or more and --synth-tumour-share in [0, 0.85)")
    if (args.synth_tumours or share) and not (args.synth and args.synth_tumours):
        raise CLIError("--synth-tumours / --synth-tumour-share need --synth (the label maps) and --synth-tumours > 0")


def _patient_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


def cmd_train(args) -> int:
    from .trainer import TrainOptions, train  # torch and the data pipeline: only when training


    planes = tuple(x.strip() for x in args.planes.split(",") if x.strip())
    bad = [x for x in planes if x not in ("axial", "coronal", "sagittal")]
    if bad or not planes:
        raise CLIError(f"--planes: unknown plane(s) {bad or args.planes!r}; use axial, coronal, sagittal")
    if args.max_steps < 1 or args.batch_size < 1:
        raise CLIError("--max-steps and --batch-size must be positive")
    if args.correction_rounds < 1:
        raise CLIError(f"--correction-rounds must be at least 1, got {args.correction_rounds}")
    if not 0.0 <= args.stroke_share <= 1.0:
        raise CLIError(f"--stroke-share must lie in [0, 1], got {args.stroke_share}")
    if not 0.0 <= args.local_view_share <= 1.0:
        raise CLIError(f"--local-view-share must lie in [0, 1], got {args.local_view_share}")
    if not 0.0 <= args.annotator_stroke_share <= 1.0:
        raise CLIError(f"--annotator-stroke-share must lie in [0, 1], got {args.annotator_stroke_share}")
    if not 0.0 <= args.ema_decay < 1.0:
        raise CLIError(f"--ema-decay must lie in [0, 1), got {args.ema_decay}")
    _check_tumour_options(args)
    opts = TrainOptions(data=args.data, out=args.out, config=args.config, max_steps=args.max_steps,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=args.resume, planes=planes,
                        holdout_fraction=args.holdout_fraction, init_from=args.init_from, warmup=args.warmup,
                        max_minutes=args.max_minutes, save_every=args.save_every, threads=args.threads,
                        holdout_patients=_patient_list(args.holdout_patients),
                        synth=args.synth, synth_volumes=args.synth_volumes, synth_tumours=args.synth_tumours,
                        synth_tumour_share=args.synth_tumour_share, synth_tumour_contrast=args.synth_tumour_contrast,
                        max_slices_per_plane=args.max_slices_per_plane, stroke_share=args.stroke_share,
                        annotator_stroke_share=args.annotator_stroke_share, local_view_share=args.local_view_share,
                        trainable=_patient_list(args.trainable), clip_weight=args.clip_weight,
                        iou_rank_weight=args.iou_rank_weight, correction_rounds=args.correction_rounds,
                        box_on_box_output=args.boxes_on_box_output, distill_weight=args.distill_weight,
                        wide_ct_looks=args.wide_ct_looks, ema_decay=args.ema_decay,
                        command="medpclip " + " ".join(sys.argv[1:]))
    summary = train(opts, progress=not args.json)
    if args.json and summary:
        _print_json(summary)
    elif summary:
        log.info("trained %d steps: loss %.3f -> %.3f; checkpoint %s", summary["steps"], summary["loss_start"],
                 summary["loss_end"], summary["checkpoint"])
    return 0


# -- align (stage 3) -------------------------------------------------------------------------------
def add_align(sub) -> None:
    p = sub.add_parser("align", help="align the recognition heads to the text space on a frozen model")
    p.add_argument("--data", required=True)
    p.add_argument("--init-from", required=True, help="the trained checkpoint to align")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout-fraction", type=float, default=0.2)
    p.add_argument("--holdout-patients", default="", help="comma list of patient ids left out (as in train)")
    p.add_argument("--synth", help="folder of label maps for synthetic images (as in train)")
    p.add_argument("--synth-volumes", type=int, default=1)
    p.add_argument("--synth-tumours", type=int, default=0, help="more synthetic images per label map with a brain "
                   "tumour drawn in (as in train)")
    _add_tumour_contrast(p)
    p.add_argument("--max-slices-per-plane", type=int)
    p.add_argument("--case-negatives", type=float, default=1.0, help="weight of the within-case hard-negative "
                   "term (each region against its own case's names); 0 = off")
    p.add_argument("--pooled-per-structure", type=int, default=2, help="structure-level samples (means over a "
                   "structure's slices) per case and structure; 0 = off")
    p.add_argument("--no-geometry", action="store_true", help="leave the region geometry head untrained (where "
                   "the region lies in the body, its size and brightness against it)")
    p.add_argument("--augmented-copies", type=int, default=0, help="domain-randomised renderings of each slice "
                   "(zoom, CT window / MR contrast, bias field, resolution, blur, noise) besides its context view")
    p.add_argument("--geometry-features", type=int, help="start a fresh geometry head reading this many region "
                   f"figures ({BASE_FEATURES} without the ring around the region, {RING_FEATURES} with it, {N_FEATURES} "
                   "with the region's shape too); default: "
                   "keep training the checkpoint's head")
    p.add_argument("--size-jitter", type=float, default=1.0, help="the geometry head sees each training region's "
                   "area scaled by a random factor up to this (log-uniform in [1/F, F]); 1 = off")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_align)


def cmd_align(args) -> int:
    from .align import AlignOptions, align


    if args.steps < 1:
        raise CLIError("--steps must be positive")
    if args.augmented_copies < 0:
        raise CLIError("--augmented-copies must be 0 or more")
    _check_tumour_options(args)
    if args.geometry_features is not None and args.geometry_features not in (BASE_FEATURES, RING_FEATURES, N_FEATURES):
        raise CLIError(f"--geometry-features must be {BASE_FEATURES}, {RING_FEATURES} or {N_FEATURES}")
    if not args.size_jitter >= 1:
        raise CLIError("--size-jitter must be 1 (off) or more")
    summary = align(AlignOptions(args.data, args.init_from, args.out, args.steps, args.batch_size, args.lr, args.seed,
                                 args.holdout_fraction, args.threads, "medpclip " + " ".join(sys.argv[1:]),
                                 _patient_list(args.holdout_patients), args.synth, args.synth_volumes,
                                 args.max_slices_per_plane, args.case_negatives, args.pooled_per_structure,
                                 not args.no_geometry, args.augmented_copies, args.geometry_features,
                                 args.synth_tumours, args.synth_tumour_contrast, args.size_jitter),
                    progress=not args.json)
    if args.json:
        _print_json(summary)
    return 0

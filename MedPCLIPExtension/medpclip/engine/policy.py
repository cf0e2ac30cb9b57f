"""The engine's tunable rules in one place: what the model looks at (views) and when 3D propagation stops.

Every engine module reads these at call time (``policy.STOP_SCORE``), so a benchmark sweep or a test can change a
rule by setting the module attribute. The measurements behind each number are in docs/DESIGN-NOTES.md
("Prompt-centred views", "3D propagation").
"""

from __future__ import annotations

# -- views ------------------------------------------------------------------------------------------
# "prompt" = the body's context view, then object views around the prompt (default); "context" = the body's view
# only; "whole" = the whole slice, as the first release did (for ablations and comparisons)
VIEW_MODES = ("prompt", "context", "whole")
DEFAULT_VIEWS = "prompt"
# a view around a prompt (a click's view, a stroke's view) is used only when its side is at most this share of the
# body's context view's: a larger one shows the object no closer than the body's view does
REFINE_MAX_SHARE = 0.7
# a click's first answer in the body's view is refined in a view around it (FocalClick's zoom-in) only when that view's
# side is at most this share of the body's view's: a larger object is shown barely closer, and the refining pass is a
# third model pass for nothing. Session 42 (docs/RESULTS.md): at 0.7 (before) vs 0.4, training patients' click
# Dice@1 / @3 / @5 0.567 / 0.715 / 0.778 -> 0.570 / 0.724 / 0.781 (BTCV level, BRATS 0.503 / 0.643 / 0.716 -> 0.510 /
# 0.661 / 0.723; 0.5: 0.568 / 0.719 / 0.777); held out 0.494 / 0.640 / 0.732 -> 0.508 / 0.659 / 0.749 (BRATS 0.376 /
# 0.513 / 0.633 -> 0.403 / 0.554 / 0.669, BTCV level), no structure 0.05 worse; a new object on a cached slice of
# the benchmark CT (the liver) 85-99 -> 52 ms
REFINE_SKIP_SHARE = 0.4
# the refining pass (object view) is given the context view's answer as its previous mask
REFINE_FEEDBACK = False
# ... and its answer is dropped for the context view's when it reaches the edge of its view (framed around a
# first answer too small for the object)
BORDER_GUARD = True
# ... or when it keeps less than this share of the first answer's area (zoomed onto a part of a large organ)
REFINE_MIN_KEEP = 0.6
# boxes / prior masks answered in their object view; 3D propagation in object views (else: the context view)
BOX_OBJECT_VIEW = True
# ... and also in the context view, keeping the answer with the higher predicted quality: held-out patients (sweep
# "box_pick_by_score"), box Dice@1 BRATS 0.10 -> 0.27 (nested tumour sub-regions, 12 items), BTCV 0.737 -> 0.737
# (196 items); a second pass on the (usually cached) context trunk. Not for a box alone answered by a checkpoint's
# box_output (2026-12-04): there it changed nothing (box Dice@1 with / without it, training patients BTCV 0.797 /
# 0.797, BRATS 0.673 / 0.675; held-out 0.790 / 0.790, 0.602 / 0.602; docs/RESULTS.md "Which output answers a box")
BOX_PICK_BY_SCORE = True
# identify from a mask or a prompt averages the region embedding over the context view and these zoomed copies of
# it (out / in about its centre; 2 more trunk passes per named slice): the model's naming moves with how much of the
# view the body fills, and the mean is steadier. Held-out patients, Top-1 by mask among all BTCV names 0.698 ->
# 0.752, among each case's names 0.810 -> 0.826, BRATS level; by one click BTCV 0.678 -> 0.715 (docs/RESULTS.md,
# session 31). Not for find's many regions, nor a click's own name (``Session.identify(result=...)``, <= 5 ms).
IDENTIFY_VIEW_ZOOMS = (0.9, 1.15)
PROPAGATION_OBJECT_VIEW = False
PROPAGATION_VIEW_SCALE = 2.0  # propagation's object view is looser than a click's: the next slices may grow

# -- 3D propagation stop rules (per direction) ----------------------------------------------------------
# stop at the first slice where the predicted quality drops below STOP_SCORE, the region shrinks below SHRINK x
# the previous area (or MIN_AREA px), or grows beyond GROW x the previous area or (without an ROI) GROW_TOTAL x the
# prompted slice's; calibrated on a patient the model never saw (issue 12)
STOP_SCORE = 0.3
SHRINK = 0.15
GROW = 4.0
GROW_TOTAL = 3.0
MIN_AREA = 4
# ... and where the region's mean intensity (the engine's normalised image, 0..1) differs from the prompted slice's
# region by more than INTENSITY_DRIFT: the mask walked onto other tissue or out of the body, where the model often
# answers with a *higher* predicted quality (Testing/benchmarks/trace_propagation.py; chosen on training patients'
# volumes, 35 structures: 3D Dice 0.157 -> 0.243 BRATS, 0.442 -> 0.457 CT / MR abdomen; the held-out BRATS patient
# 0.255 -> 0.332; None = off)
INTENSITY_DRIFT: float | None = 0.25
# ... and where the prompted region's top name drops out of the TOP_K names of the propagated slice's region
# (MedP-CLIP's own signal; None = off, the default since the patient-level calibration)
TOP_K: int | None = None
# a slice with a positive click that propagation did not reach (a 3D correction beyond where it stopped) is answered
# from its own clicks and propagated both ways until a stop rule or a slice already written (session 39, docs/RESULTS.md)
SEED_FROM_CLICKS = True
# ... and, without an ROI, a slice it reaches whose answer leaves out a positive click is answered once more as a 2D
# correction is: its clicks, its own logits fed back, no box (the box drawn from the previous slice's mask kept the
# model from the missed part). Chosen on training volumes (3 BRATS patients x 2 sequences, the sample CT and MR; 3
# structures each, one click + 4 3D correction clicks): volume Dice after 5 interactions 0.369 -> 0.457, no
# structure worse; with a 3D box (the benchmark's ROI protocol, sample volumes) it cost 2 structures, so not there
# (docs/RESULTS.md, session 39)
CORRECT_CLICKED_SLICES = True
# each next slice's box is the previous mask's, grown by (fraction of its size, mm): an ROI bounds the region
# already, so it gets the looser box
BOX_PAD = {"roi": (0.1, 6.0), "free": (0.05, 3.0)}
# canonical direction +1 / -1 along each plane's axis, in patient terms (canonical: i left, j posterior, k superior)
PROPAGATION_DIRECTIONS = {"axial": {1: "superior", -1: "inferior"}, "coronal": {1: "posterior", -1: "anterior"},
                          "sagittal": {1: "left", -1: "right"}}

# -- find -------------------------------------------------------------------------------------------
# (docs/DESIGN-NOTES.md, "Find"; figures: Testing/benchmarks/bench_find.py on the sample CT + MR and the bundled
# held-out patients)
# the search: a FIND_GRID_POINTS x FIND_GRID_POINTS grid of one-click prompts on FIND_MAX_SLICES axial slices of
# the body, every click answered (one batch per slice). 12 x 12 since the answers are scored (2026-12-05): a 6 x 6
# grid's points missed the sample CT's spleen and aorta (both found with 12). Mean 3D Dice of liver, spleen, left
# kidney, aorta on the sample CT + MR (candidate 2026-12-05): 8 slices 0.575, 12 slices 0.566 at 1.9x the time,
# 6 slices 0.552; a 9 x 9 grid on 12 slices 0.527
FIND_GRID_POINTS = 12
FIND_MAX_SLICES = 8
# per slice, the answers whose clicks' own embeddings (with the answer's geometry) score best are named again
# from their masks, which is what the model is aligned for (none of them: 0.467 on the same four terms; all of
# them: 1.8x the time, the prompted blocks run twice per point)
FIND_MASKS_NAMED_PER_SLICE = 8
# grid points kept per slice, and how many of the best of all of them are re-segmented as the engine answers a
# click (the prompt-centred view) and re-ranked by their masks' names
FIND_POINTS_PER_SLICE = 3
FIND_REFINE_CANDIDATES = 6
# then a FIND_LOCAL_GRID_POINTS x FIND_LOCAL_GRID_POINTS grid over the best answer's extent on its slice, scored
# the same way, its best points re-ranked with it (0 = off)
FIND_LOCAL_GRID_POINTS = 5
# the verdict: the best-matching region counts as found when the text ranks within the first FIND_MAX_RANK + 1
# names the region gets among the checkpoint's vocabulary (+ the text) and its probability among them is at least
# FIND_MIN_PROBABILITY. The floor came with the scored search (2026-12-05): a search that maximises the text's
# probability over some 800 answers finds a region for almost any text. Sample CT + MR and the bundled held-out
# patients, both checkpoints: 11 of 14 foreign terms found at rank <= 2 had probability 0.04-0.44 ("peritumoral
# edema" on the abdominal CT: 0.28), true finds 0.62-0.99 (one at 0.36 was the wrong kidney); left: "peritumoral
# edema" on the sample MR (0.71) and liver / spleen on the held-out brain (0.95 / 0.82), where naming itself fails
FIND_MAX_RANK = 2
FIND_MIN_PROBABILITY = 0.5
# the found region's 3D propagation runs in object views (a click's stays in the context view, PROPAGATION_OBJECT_VIEW):
# in the body's context view a small organ is a few low-resolution pixels across and its propagation drifts. Since
# 2026-12-05 session 30 (bench_find.py): sample CT + MR 0.467 -> 0.518 (CT aorta 0.29 -> 0.50, left kidney 0.53 ->
# 0.66, MR spleen 0.53 -> 0.64); bundled held-out patients 0.333 -> 0.331 (BRATS oedema 0.18 -> 0.13); same time
FIND_PROPAGATION_OBJECT_VIEW = True

# -- strokes ----------------------------------------------------------------------------------------
STROKE_TOKENS = 6  # point tokens per stroke and slice, spread evenly along it (docs/DESIGN-NOTES.md, "Strokes")
# strokes on the prompted slice: the central positive token first, then up to this many correction passes at the
# tokens the answer gets wrong (all tokens in one pass: liver from a row stroke 0.32; this way: 0.61)
STROKE_ROUNDS = 3
# then the answer follows the image's edges and honours every stroke (engine/stroke_edges.py): a seeded watershed
# of the strokes and the answer's inside / outside near its boundary. Session 34 (docs/RESULTS.md): annotator-style
# scribbles, chosen on training patients (0.592 -> 0.669 Dice), held-out 0.610 -> 0.693; the stroke protocol's
# held-out Dice after 1 / 3 strokes 0.544 / 0.727 -> 0.596 / 0.789; session 35's watershed: 3 ms median (was 8)
STROKE_EDGES = True
# with a negative stroke on the slice, a strokes answer is read where its logit exceeds this (probability 0.3; before
# the edge refinement above) instead of 0 (0: off), because the model's answer to scribbles is too small (full ring:
# it leaves out 53 % of a training BRATS target's pixels, 18 % of a BTCV organ's; session 40, docs/RESULTS.md)...
STROKE_MASK_LOGIT = -0.85
# ... but only where a negative stroke lies beyond the pixel, seen from the positive strokes' centre
# (strokes.fenced): there a wider answer cannot spill. Read wider everywhere (False), the stroke protocol's correction
# strokes spilled (held out 0.680 / 0.769 / 0.814 -> 0.680 / 0.728 / 0.759 after 1 / 2 / 3 strokes, session 40).
# Session 41, chosen on training patients: scribbles full / half ring 0.694 / 0.670 -> 0.715 / 0.680, stroke protocol
# level (0.720 / 0.797 / 0.833 -> 0.720 / 0.797 / 0.833); held out: scribbles 0.704 / 0.686 -> 0.725 / 0.701, stroke
# protocol 0.680 / 0.769 / 0.814 -> 0.680 / 0.767 / 0.809
STROKE_WIDER_ONLY_FENCED = True
# a first answer to strokes is one pass in a view around the positive strokes (and clicks): side = this x their
# longer extent + 20 mm (a click's object view: 1.6 x its first answer's extent). A stroke shows how far its object
# reaches, which a click's first pass, in the body's view, is there to find. Where that view exceeds REFINE_MAX_SHARE
# of the body's view or cuts its answer, a click's two passes answer. None: strokes answered as a click (before
# session 36). Chosen on training patients among 1.6 / 2 / 2.5 / 3 / 3.5 / 4 (docs/RESULTS.md, session 36): stroke
# protocol 0.648 / 0.723 / 0.787 -> 0.679 / 0.753 / 0.793, annotator scribbles 0.668 -> 0.670, a first stroke
# 27 % faster than a click instead of 8-13 % slower; framing with the negative strokes too: no better, slower
STROKE_VIEW_SCALE: float | None = 3.5
# a new click's first pass in a square view this wide (mm) around the click, kept unless its answer is empty or
# reaches the view's edge (the object is larger) or fails a check against the body's view's answer (below). None: the
# body's view first, then a view around its answer (before session 38). The click view answers a kidney or a
# gallbladder that the body's view merges with its neighbour. Chosen on training patients among 120 / 160 / 200 mm
# (docs/RESULTS.md, session 38): BTCV clicks 0.582 / 0.772 / 0.832 -> 0.630 / 0.788 / 0.840 with 160 mm, no structure
# over 0.05 worse; 120 mm gains more (0.637) but cuts the stomach (-0.066 at the first click: its fluid answered
# without its wall). It applies where 160 mm is at most REFINE_MAX_SHARE of the body's view (229 mm): not to a brain
CLICK_VIEW_MM: float | None = 160.0
# ... a fragment: the body's view's answer to the same click is over CLICK_VIEW_WHOLE_RATIO x its area, holds over half
# of it, and the rest of it has the same intensity (medians apart by under CLICK_VIEW_SAME_TISSUE x the local answer's
# interquartile range + 0.02): one organ larger than the view, the liver most often. Chosen on training patients.
CLICK_VIEW_WHOLE_RATIO = 4.0
CLICK_VIEW_SAME_TISSUE: float | None = 0.2  # None: no such check (the local answer stands)
# ... and the body's view's answer wins too when the local answer is over this x its area and holds over half of it:
# a small object (a vessel) answered in the click view grows past its edges towards the view's typical object size
CLICK_VIEW_GREW_RATIO: float | None = 1.5
# ... and a kept click-view answer is refined in a view around it, as the body's view's answer is (False: it stands;
# the click view already frames the click, and a first click then costs two passes, as without the click view).
# Refining cost 43 % more time on a first click on a new slice and lost the stomach more (session 37)
CLICK_VIEW_REFINE = False
# ... and where the body's view's answer won a check against the click view's (a fragment, a grown answer), it is
# refined in a view around it, as when the click view is empty or cut (False: it stands; a first click then costs two
# passes, not three; measured in session 39, docs/RESULTS.md)
REFINE_WON_CHECK = True
# a new click's result carries the body's view's region embedding (its pass answers every new click), so that naming
# the click (``Session.identify(result=...)``, the MONAI Label interactive task) sees the whole body; False: the
# embedding of the pass whose answer was kept (a click view, an object view). Session 38, docs/RESULTS.md: naming a
# click's result among the case's names, BTCV Top-1 0.718 -> 0.909 on the training patients, 0.612 -> 0.714 held out
NAME_CLICK_IN_BODY_VIEW = True

# -- features ---------------------------------------------------------------------------------------
ENCODE_CHUNK = 8  # slices encoded per trunk call (propagation encodes the next ENCODE_CHUNK slices at once)


def stop_reason(reason: str) -> str:
    """Words for a propagation stop rule (with the rule's current numbers)."""
    return {
        "quality": f"predicted quality below {STOP_SCORE}",
        "vanished": f"the region shrank below {SHRINK:.0%} of the previous slice's (the structure ends)",
        "grew": f"the region grew beyond {GROW}x the previous slice's (or {GROW_TOTAL}x the prompted slice's): "
                "it was spilling into a neighbour",
        "name": f"the region's name left the top {TOP_K} of the prompted slice's (it walked onto another structure)",
        "intensity": f"the region's mean intensity moved more than {INTENSITY_DRIFT} (of the image's normalised range) "
                     "from the prompted slice's: it walked onto other tissue",
        "joined": "it reached a slice segmented from another click",
    }[reason]

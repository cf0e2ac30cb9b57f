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
# a click's refining pass is skipped when its object view would exceed this share of the context view
REFINE_MAX_SHARE = 0.7
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
# each next slice's box is the previous mask's, grown by (fraction of its size, mm): an ROI bounds the region
# already, so it gets the looser box
BOX_PAD = {"roi": (0.1, 6.0), "free": (0.05, 3.0)}
# canonical direction +1 / -1 along each plane's axis, in patient terms (canonical: i left, j posterior, k superior)
PROPAGATION_DIRECTIONS = {"axial": {1: "superior", -1: "inferior"}, "coronal": {1: "posterior", -1: "anterior"},
                          "sagittal": {1: "left", -1: "right"}}

# -- find -------------------------------------------------------------------------------------------
# the best-matching region counts as found when the search text ranks within the first FIND_MAX_RANK + 1 names the
# region gets among the checkpoint's vocabulary (+ the text). On the sample CT / MR and a held-out BTCV slice, 4
# abdominal organs (liver, spleen, left kidney, aorta) ranked 0-0-1-2 / 0-1-5-0 / 0-0-2-13 and 7 terms of other
# body regions 4-135 (docs/DESIGN-NOTES.md, "Find")
FIND_MAX_RANK = 2
# the best points of this many slices are re-ranked by what they segment (their 2D mask, named from the mask and
# where it lies in the body); 6 since the geometry term (2026-12-02): the grid's point embeddings have no mask, so
# no geometry, and rank the right slice lower than before (sample CT: liver not found with 3)
FIND_REFINE_CANDIDATES = 6
# grid points kept per slice for that re-ranking (neighbours on one slice, liver / spleen, differ by where they lie;
# sample CT + MR, bench_find.py: mean 3D Dice 0.179 with 1, 0.192 with 3; 3 points x 12 candidates gave 0.232 but
# found "brain" on the abdominal CT: more candidates, more chances of a false match)
FIND_POINTS_PER_SLICE = 3

# -- strokes ----------------------------------------------------------------------------------------
STROKE_TOKENS = 6  # point tokens per stroke and slice, spread evenly along it (docs/DESIGN-NOTES.md, "Strokes")
# strokes on the prompted slice: the central positive token first, then up to this many correction passes at the
# tokens the answer gets wrong (all tokens in one pass: liver from a row stroke 0.32; this way: 0.61)
STROKE_ROUNDS = 3

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
    }[reason]

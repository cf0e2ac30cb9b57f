"""Weight-space interpolation of two checkpoints of one architecture (WiSE-FT, Wortsman et al. 2022: a fine-tuned
model averaged with the model it was fine-tuned from keeps more of the start's robustness to unseen data).

    .venv/bin/python scripts/interpolate_checkpoints.py START FINETUNED ALPHA OUT
        -> OUT = (1 - ALPHA) * START + ALPHA * FINETUNED, tensor by tensor; vocabulary, text features and
           provenance from FINETUNED, plus {"interpolation": {...}} (both files' sha256 and ALPHA).
"""

from __future__ import annotations

import argparse
import copy
import logging

import torch

from medpclip.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint

log = logging.getLogger("interpolate_checkpoints")


def interpolate(start: Checkpoint, tuned: Checkpoint, alpha: float) -> Checkpoint:
    if start.model.cfg != tuned.model.cfg:
        raise CheckpointError("the two checkpoints have different model configs")
    a, b = start.model.state_dict(), tuned.model.state_dict()
    model = copy.deepcopy(tuned.model)
    model.load_state_dict({k: ((1 - alpha) * a[k].float() + alpha * b[k].float()).to(b[k].dtype)
                           if b[k].is_floating_point() else b[k] for k in b})
    provenance = dict(tuned.provenance)
    provenance["interpolation"] = {"start": str(start.path), "start_sha256": start.sha256,
                                   "finetuned": str(tuned.path), "finetuned_sha256": tuned.sha256, "alpha": alpha}
    return Checkpoint(model, tuned.vocabulary, tuned.text_features, provenance, tuned.metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("start")
    ap.add_argument("finetuned")
    ap.add_argument("alpha", type=float, help="0 = START, 1 = FINETUNED")
    ap.add_argument("out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit("alpha must lie in [0, 1]")
    with torch.no_grad():
        out = interpolate(load_checkpoint(args.start), load_checkpoint(args.finetuned), args.alpha)
    log.info("wrote %s", save_checkpoint(out, args.out))


if __name__ == "__main__":
    main()

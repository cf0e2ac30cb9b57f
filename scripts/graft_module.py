"""Graft one module of a fine-tuned checkpoint into another checkpoint of the same architecture: how a part trained
alone (``medpclip train --trainable MODULE``) joins the default without touching anything else.

    .venv/bin/python scripts/graft_module.py BASE DONOR MODULE OUT
        -> OUT = BASE with every tensor under MODULE taken from DONOR. Vocabulary, text features, metrics and
           provenance stay BASE's (so its alignment lineage is kept), plus {"grafts": [..., {"module", "donor",
           "donor_sha256", "donor_command"}]}; a donor trained with painted strokes makes OUT read them too.
"""

from __future__ import annotations

import argparse
import copy
import logging

import torch

from medpclip.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint

log = logging.getLogger("graft_module")


def graft(base: Checkpoint, donor: Checkpoint, module: str) -> Checkpoint:
    if base.model.cfg != donor.model.cfg:
        raise CheckpointError("the two checkpoints have different model configs")
    a, b = base.model.state_dict(), donor.model.state_dict()
    keys = [k for k in b if k.startswith(module + ".")]
    if not keys:
        raise CheckpointError(f"no tensors under {module!r}; modules: {sorted({k.split('.')[0] for k in b})}")
    model = copy.deepcopy(base.model)
    model.load_state_dict({**a, **{k: b[k] for k in keys}})
    provenance = copy.deepcopy(base.provenance)
    provenance.setdefault("grafts", []).append({"module": module, "donor": str(donor.path),
                                                "donor_sha256": donor.sha256,
                                                "donor_command": donor.provenance.get("command")})
    provenance["dense_strokes"] = base.dense_strokes or donor.dense_strokes
    return Checkpoint(model, base.vocabulary, base.text_features, provenance, base.metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("donor")
    ap.add_argument("module", help="a top-level module name, e.g. stroke_prompt")
    ap.add_argument("out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with torch.no_grad():
            out = graft(load_checkpoint(args.base), load_checkpoint(args.donor), args.module)
    except CheckpointError as exc:
        raise SystemExit(str(exc)) from None
    log.info("wrote %s", save_checkpoint(out, args.out))


if __name__ == "__main__":
    main()

"""Set which decoder output answers a box alone (``MedPCLIP.box_output``) in a copy of a checkpoint.

    .venv/bin/python scripts/set_box_output.py --output K [--base CKPT] --out CKPT [--note TEXT]

A box with no click and no prior mask is answered by output 0 (the single-mask output boxes were trained on)
unless the checkpoint says otherwise. To choose K: write one copy per output and run the box protocol with each,
on training patients first (that is where K is chosen), then on held-out patients (the check):

    for k in 0 1 2 3; do .venv/bin/python scripts/set_box_output.py --output $k --out runs/box_$k.safetensors
        medpclip benchmark --data ../shared/training --patients <IDS> --first box --clicks 1 --no-3d
            --methods medpclip --checkpoint runs/box_$k.safetensors --out runs/box_$k ...; done

Every other tensor and the rest of the provenance are copied unchanged; the choice, the command and ``--note``
(what it was chosen on) go into the provenance under ``box_output``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from medpclip.model.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger("set_box_output")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", type=int, required=True, help="decoder output 0..M that answers a box alone")
    ap.add_argument("--base", help="checkpoint to copy (default: the bundled one)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", default="", help="what the choice was measured on (kept in the provenance)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ckpt = load_checkpoint(args.base)
    outputs = ckpt.model.cfg.num_multimask + 1
    if not 0 <= args.output < outputs:
        sys.exit(f"error: --output {args.output}: this model has outputs 0..{outputs - 1}")
    ckpt.model.box_output.fill_(args.output)  # a fresh load: changed in memory, written to --out only
    ckpt.provenance = {**ckpt.provenance, "box_output": {
        "output": args.output, "command": " ".join(["scripts/set_box_output.py", *sys.argv[1:]]), "note": args.note}}
    log.info("wrote %s (a box alone is answered by output %d)", save_checkpoint(ckpt, args.out), args.output)


if __name__ == "__main__":
    main()

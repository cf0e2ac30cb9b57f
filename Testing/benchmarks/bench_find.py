"""Open-vocabulary find on labelled volumes: the found region's 3D Dice against the reference structure the text
names, and whether terms of another body region are reported "not found" (issue 13). Not a test: it prints figures.

    python Testing/benchmarks/bench_find.py [--checkpoint X] [--data Resources/SampleData] [--out runs/find.json]

Per volume: every term of ``TERMS`` whose structure the volume's labels hold (matched through the coded vocabulary,
so "left kidney" finds the label ``kidney_left``) and every term of ``FOREIGN`` of the volume's body region.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

from medpclip.data.cases import load_case
from medpclip.data.masks import dice
from medpclip.data.vocabulary import resolve
from medpclip.engine import Engine
from medpclip.evaluation.items import load_specs

TERMS = ["liver", "spleen", "left kidney", "right kidney", "aorta", "stomach", "gallbladder", "pancreas",
         "brain", "left thalamus", "necrotic tumour core", "peritumoral edema"]
log = logging.getLogger("bench_find")
FOREIGN = {"abdomen": ["brain", "left thalamus", "peritumoral edema", "femur", "urinary bladder"],
           "brain": ["liver", "spleen", "left kidney", "aorta"]}


def run_volume(engine: Engine, case, terms: set[str] | None = None) -> list[dict]:
    session = engine.open(case.image)
    label = case.label.array
    by_concept = {c.id: v for v, c in case.concepts.items()}
    rows = []
    body = case.spec.body_part if case.spec.body_part in FOREIGN else ("brain" if "brain" in case.spec.body_part else "abdomen")
    for text in dict.fromkeys(TERMS + FOREIGN.get(body, [])):
        value = by_concept.get(resolve(text, strict=False).id)
        foreign = text in FOREIGN.get(body, [])
        if terms is not None and text not in terms:
            continue
        if value is None and not foreign:
            continue
        t0 = time.perf_counter()
        res = session.find(text, mode="3d")
        row = {"case": case.spec.name, "text": text, "found": bool(res.found["found"]), "rank": res.found["rank"],
               "probability": res.found["probability"],
               "seconds": round(time.perf_counter() - t0, 2)}
        if value is not None:
            row["dice_3d"] = round(float(dice(res.mask > 0, label == value)), 3)
        else:
            row["foreign"] = True
        rows.append(row)
        log.info("%s %-22s found=%s rank=%s dice=%s", case.spec.name, text, row["found"], row["rank"],
                 row.get("dice_3d", "-"))
    session.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--data", default="Resources/SampleData/totalseg_ct_abdomen,Resources/SampleData/totalseg_mr_abdomen")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--terms", help="comma list: only these of the terms (default: all)")
    ap.add_argument("--out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    engine = Engine.from_checkpoint(args.checkpoint, device="cpu", threads=args.threads)
    rows = []
    for spec in load_specs(args.data.split(","), walk=True):
        rows += run_volume(engine, load_case(spec, strict_names=False), set(args.terms.split(",")) if args.terms else None)
    named = [r for r in rows if "dice_3d" in r]
    foreign = [r for r in rows if r.get("foreign")]
    summary = {"checkpoint": engine.checkpoint.sha256[:12], "rows": rows,
               "mean_dice_3d": round(float(np.mean([r["dice_3d"] for r in named])), 3) if named else None,
               "named_found": sum(r["found"] for r in named), "named": len(named),
               "foreign_not_found": sum(not r["found"] for r in foreign), "foreign": len(foreign)}
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

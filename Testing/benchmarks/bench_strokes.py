"""Scribble protocol benchmark (issue 14, docs/BENCHMARK.md "Strokes"): Dice after 1..N simulated strokes for
MedP-CLIP and GrowCut (the same strokes), and the cost of a stroke next to a click.

    .venv/bin/python Testing/benchmarks/bench_strokes.py [--data ../shared/training --patients ID,...]
        [--strokes 3] [--max-items 60] [--out docs/results/bench_strokes.json]

Items: per case, the 3 largest structures (>= 100 px) on each of up to 3 evenly spaced labelled axial slices.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "MedPCLIPExtension"))

from medpclip.data.cases import load_case  # noqa: E402
from medpclip.data.geometry import extract_slice  # noqa: E402
from medpclip.data.masks import max_edt_point  # noqa: E402
from medpclip.engine import Engine  # noqa: E402
from medpclip.evaluation.items import load_specs, spaced_slices  # noqa: E402
from medpclip.evaluation.patients import parse_patients, select_patients  # noqa: E402
from medpclip.evaluation.strokes import dice_at, run_growcut, run_medpclip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO / "Resources" / "SampleData"))
    ap.add_argument("--patients", help="patient ids (patient mode, as medpclip benchmark --patients)")
    ap.add_argument("--strokes", type=int, default=3)
    ap.add_argument("--max-items", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint")
    ap.add_argument("--out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    specs = load_specs([args.data], walk=True)
    if args.patients:
        specs = select_patients(specs, parse_patients(args.patients))
    engine = Engine.from_checkpoint(args.checkpoint, threads=args.threads)
    rows, med, gc, click_ms = [], [], [], []
    for spec in specs:
        case = load_case(spec)
        session = engine.open(case.image)
        for idx in spaced_slices(list(range(case.canon_label.shape[0])), case.canon_label, 3):
            lab2d = extract_slice(case.canon_label, "axial", idx)
            values = sorted(case.concepts, key=lambda v: -(lab2d == v).sum())[:3]
            for v in values:
                target = lab2d == v
                if target.sum() < 100 or len(rows) >= args.max_items:
                    continue
                m = run_medpclip(session, idx, target, args.strokes)
                g = run_growcut(extract_slice(case.canon_image, "axial", idx).astype(np.float32), target, args.strokes)
                r, c = max_edt_point(target)
                ijk = session.geometry.to_input_ijk(np.array([[c, r, idx]], float))[0].tolist()
                t0 = time.perf_counter()
                session.segment({"points": [ijk]}, feedback=False)
                click_ms.append((time.perf_counter() - t0) * 1000)
                med.append(m)
                gc.append(g)
                rows.append({"case": spec.name, "structure": case.concepts[v].id, "slice": int(idx),
                             "medpclip": m.dice, "growcut": g.dice})
    report = {
        "items": len(rows), "strokes": args.strokes, "data": args.data, "patients": args.patients,
        "medpclip": {f"dice@{k}": round(dice_at(med, k), 4) for k in range(1, args.strokes + 1)},
        "growcut": {f"dice@{k}": round(dice_at(gc, k), 4) for k in range(1, args.strokes + 1)},
        "first_stroke_ms_median": round(float(np.median([t.ms[0] for t in med])), 1) if med else None,
        "click_ms_median": round(float(np.median(click_ms)), 1) if click_ms else None,
        "trials": rows,
    }
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "trials"}, indent=1))


if __name__ == "__main__":
    main()

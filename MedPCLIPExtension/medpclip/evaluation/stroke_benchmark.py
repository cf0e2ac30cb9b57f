"""``medpclip benchmark --protocol strokes`` (issue 14): Dice after 1..N simulated strokes for MedP-CLIP and GrowCut
(Slicer's "Grow from seeds") given the same strokes (``strokes.py``), and the cost of a first stroke next to a
click on the same item (both on a slice whose context view is already encoded).

Items: per case, the 3 largest structures (>= 100 px) on each of up to 3 evenly spaced labelled axial slices, at
most ``max_items`` in all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.cases import load_case
from ..data.geometry import extract_slice
from ..data.masks import max_edt_point
from ..fileio import atomic_write
from .items import largest_on_spaced_slices
from .strokes import dice_at, run_growcut, run_medpclip

STRUCTURES_PER_SLICE, SLICES_PER_CASE, MIN_PIXELS = 3, 3, 100


def run_stroke_benchmark(engine, specs: list, strokes: int = 3, max_items: int = 60, progress: bool = True,
                         command: str = "") -> dict[str, Any]:
    from tqdm import tqdm

    rows, med, gc, click_ms = [], [], [], []
    for spec in tqdm(specs, desc="stroke benchmark", unit="case", disable=not progress):
        if len(rows) >= max_items:
            break
        case = load_case(spec)
        session = engine.open(case.image)
        for idx, _, v, target in largest_on_spaced_slices(case, SLICES_PER_CASE, STRUCTURES_PER_SLICE, MIN_PIXELS):
            if len(rows) >= max_items:
                break
            # the slice's context view encoded before either is timed: a first stroke and a click are both
            # timed on a cached slice (the stroke used to pay the slice's trunk pass on its first item)
            session.features("axial", [int(idx)])
            m = run_medpclip(session, idx, target, strokes)
            g = run_growcut(extract_slice(case.canon_image, "axial", idx).astype(np.float32), target, strokes)
            r, c = max_edt_point(target)
            ijk = session.geometry.to_input_ijk(np.array([[c, r, idx]], float))[0].tolist()
            t0 = time.perf_counter()
            session.segment({"points": [ijk]}, feedback=False)
            click_ms.append((time.perf_counter() - t0) * 1000)
            med.append(m)
            gc.append(g)
            rows.append({"case": spec.name, "structure": case.concepts[v].id, "slice": int(idx),
                         "medpclip": m.dice, "growcut": g.dice})
    return {
        "protocol": "strokes", "items": len(rows), "strokes": strokes, "command": command,
        "medpclip": {f"dice@{k}": round(dice_at(med, k), 4) for k in range(1, strokes + 1)} if med else {},
        "growcut": {f"dice@{k}": round(dice_at(gc, k), 4) for k in range(1, strokes + 1)} if gc else {},
        "first_stroke_ms_median": round(float(np.median([t.ms[0] for t in med])), 1) if med else None,
        "click_ms_median": round(float(np.median(click_ms)), 1) if click_ms else None,
        "trials": rows,
    }


def write_stroke_results(results: dict[str, Any], out: str | Path) -> Path:
    """``out/results.json`` (with the per-item trials) and ``out/results.md`` (the table)."""
    out = Path(out)
    atomic_write(out / "results.json", json.dumps(results, indent=1) + "\n")
    ks = range(1, results["strokes"] + 1)
    lines = [f"# Stroke protocol ({results['items']} items)", "",
             "| method | " + " | ".join(f"Dice@{k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for method in ("medpclip", "growcut"):
        lines.append(f"| {method} | " + " | ".join(str(results[method].get(f"dice@{k}", "-")) for k in ks) + " |")
    lines += ["", f"First stroke {results['first_stroke_ms_median']} ms, click {results['click_ms_median']} ms "
              "(medians, same items).", ""]
    atomic_write(out / "results.md", "\n".join(lines))
    return out / "results.json"

"""``medpclip benchmark --protocol scribbles`` (issue 14): annotator-style scribbles, as scribble-annotated datasets
give them, sent at once as a strokes label map (what ``medpclip segment --scribbles`` takes); MedP-CLIP and GrowCut
(Slicer's "Grow from seeds") get the same strokes.

On each picked slice every labelled structure of at least ``MIN_OTHER`` px gets a stroke along its main axis
through its deepest point (``strokes.stroke_through``) and the background an arc around the target:
- the target's stroke (80 % of its length, 2 px inside) is the positive stroke;
- every other structure's stroke (60 %, 1 px inside) and the background arc are negative: the unlabelled pixels
  3 - 4.5 px outside the target over a random ``span`` of directions (180 degrees: a quick annotator; 360: a
  thorough one);
- strokes are 3 px wide (a 1 px dilation of the path), kept inside their region.

Items: per case, the ``STRUCTURES_PER_SLICE`` largest structures (>= ``MIN_PIXELS`` px) on up to ``SLICES_PER_CASE``
evenly spaced labelled axial slices, at most ``max_items``. Reported: Dice per dataset (meta.json, or the case
name's prefix), dataset-averaged, per structure, and the median time of MedP-CLIP's answer.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..data.cases import load_case
from ..data.geometry import extract_slice
from ..data.masks import dice
from ..data.stroke_sim import background_arc, stroke_through
from ..fileio import atomic_write
from .baselines import growcut_2d_strokes
from .items import largest_on_spaced_slices
from .patients import case_meta, dataset_name

STRUCTURES_PER_SLICE, SLICES_PER_CASE, MIN_PIXELS, MIN_OTHER = 4, 3, 60, 30
ARC_PX = (3.0, 4.5)   # the background arc's distance from the target


def _painted(shape: tuple[int, int], path: list[tuple[int, int]]) -> np.ndarray:
    m = np.zeros(shape, bool)
    rows, cols = zip(*path)
    m[list(rows), list(cols)] = True
    return ndimage.binary_dilation(m)


def annotator_strokes(lab2d: np.ndarray, value: int, rng: np.random.Generator, span: float = np.pi
                      ) -> np.ndarray | None:
    """The strokes label map (1 positive, 2 negative) an annotator would paint for structure ``value`` of a labelled
    slice (see the module doc); None when the structure is not on the slice."""
    target = lab2d == value
    positive = stroke_through(target, 1, inset=2, share=0.8)
    if positive is None:
        return None
    strokes = np.zeros(lab2d.shape, np.uint8)
    for other in np.unique(lab2d):
        region = lab2d == other
        if other in (0, value) or region.sum() < MIN_OTHER:
            continue
        stroke = stroke_through(region, 0, inset=1, share=0.6)
        if stroke:
            strokes[_painted(lab2d.shape, stroke[0]) & region] = 2
    strokes[background_arc(target, lab2d > 0, rng, span, ARC_PX)] = 2
    strokes[_painted(lab2d.shape, positive[0]) & target] = 1
    return strokes


def run_scribble_benchmark(engine, specs: list, max_items: int = 60, span_degrees: float = 180.0, seed: int = 0,
                           progress: bool = True, command: str = "") -> dict[str, Any]:
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    span = np.deg2rad(span_degrees)
    rows, ms = [], []
    for spec in tqdm(specs, desc="scribble benchmark", unit="case", disable=not progress):
        if len(rows) >= max_items:
            break
        case = load_case(spec)
        dataset = dataset_name(spec.name, case_meta(spec))
        session = engine.open(case.image)
        for idx, lab2d, v, target in largest_on_spaced_slices(case, SLICES_PER_CASE, STRUCTURES_PER_SLICE,
                                                               MIN_PIXELS):
            if len(rows) >= max_items:
                break
            strokes = annotator_strokes(lab2d, v, rng, span)
            if strokes is None:
                continue
            volume = np.zeros(case.canon_label.shape, np.uint8)
            volume[idx] = strokes
            session.features("axial", [int(idx)])  # timed on an encoded slice, as the stroke protocol
            t0 = time.perf_counter()
            res = session.segment({"mode": "2d"}, scribbles=session.orient.array_from_canonical(volume),
                                  feedback=False)
            ms.append((time.perf_counter() - t0) * 1000)
            answer = np.asarray(session.orient.array_to_canonical(res.mask))[idx] > 0
            rows.append({"case": spec.name, "dataset": dataset, "structure": case.concepts[v].id,
                         "slice": int(idx), "medpclip": round(dice(answer, target), 4),
                         "growcut": round(dice(growcut_2d_strokes(extract_slice(case.canon_image, "axial", idx),
                                                                    strokes), target), 4)})
        session.close()
    return {"protocol": "scribbles", "items": len(rows), "background_span_degrees": span_degrees, "seed": seed,
            "command": command, **summarise(rows),
            "answer_ms_median": round(float(np.median(ms)), 1) if ms else None, "trials": rows}


def summarise(rows: list[dict]) -> dict[str, Any]:
    """Mean Dice per dataset, their average, and per (dataset, structure), for both methods."""
    by_dataset, by_structure = defaultdict(list), defaultdict(list)
    for r in rows:
        by_dataset[r["dataset"]].append(r)
        by_structure[f"{r['dataset']}/{r['structure']}"].append(r)

    def means(group: list[dict]) -> dict[str, float]:
        return {m: round(float(np.mean([r[m] for r in group])), 4) for m in ("medpclip", "growcut")}

    datasets = {name: {"n": len(g), **means(g)} for name, g in sorted(by_dataset.items())}
    average = {m: round(float(np.mean([d[m] for d in datasets.values()])), 4) for m in ("medpclip", "growcut")} \
        if datasets else {}
    return {"datasets": datasets, "dataset_average": average,
            "structures": {k: {"n": len(g), **means(g)} for k, g in sorted(by_structure.items())}}


def write_scribble_results(results: dict[str, Any], out: str | Path) -> Path:
    """``out/results.json`` (with the per-item Dice) and ``out/results.md`` (the tables)."""
    out = Path(out)
    atomic_write(out / "results.json", json.dumps(results, indent=1) + "\n")
    lines = [f"# Annotator-style scribbles ({results['items']} items, background arc "
             f"{results['background_span_degrees']:g} degrees)", "", "| dataset | n | MedP-CLIP | GrowCut |",
             "|---|---|---|---|"]
    for name, d in results["datasets"].items():
        lines.append(f"| {name} | {d['n']} | {d['medpclip']} | {d['growcut']} |")
    avg = results["dataset_average"]
    lines += [f"| dataset average | | {avg.get('medpclip', '-')} | {avg.get('growcut', '-')} |", "",
              "| structure | n | MedP-CLIP | GrowCut |", "|---|---|---|---|"]
    lines += [f"| {k} | {d['n']} | {d['medpclip']} | {d['growcut']} |" for k, d in results["structures"].items()]
    lines += ["", f"MedP-CLIP's answer: {results['answer_ms_median']} ms median (on an encoded slice).", ""]
    atomic_write(out / "results.md", "\n".join(lines))
    return out / "results.json"

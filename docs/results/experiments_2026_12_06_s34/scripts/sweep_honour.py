"""Offline sweep of the stroke-honouring refinement (stroke_refine.py) on saved annotator-scribble items
(annotator_scribbles.py --save-items): choose on training patients, report held-out.

    .venv/bin/python docs/results/experiments_2026_12_06_s34/scripts/sweep_honour.py runs/annot_train_items.npz [runs/annot_ho_items.npz]
"""
from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stroke_refine as sr  # noqa: E402
from annotator_scribbles import fused_seeds, growcut_seeded  # noqa: E402

from medpclip.data.masks import dice  # noqa: E402


def evaluate(items, fn):
    out, ms = {}, []
    for ds in np.unique(items["dataset"]):
        d = []
        for i in np.nonzero(items["dataset"] == ds)[0]:
            t0 = time.perf_counter()
            m = fn(items["image"][i].astype(np.float32), items["answer"][i], items["strokes"][i])
            ms.append((time.perf_counter() - t0) * 1000)
            d.append(dice(m, items["target"][i]))
        out[str(ds)] = round(float(np.mean(d)), 4)
    out["average"] = round(float(np.mean(list(out.values()))), 4)
    out["ms_p90"] = round(float(np.percentile(ms, 90)), 1)
    return out


def geodesic(band, reach, weight, sigma, floor, always=False):
    def fn(img, mask, strokes):
        sr.BAND, sr.REACH, sr.EDGE_WEIGHT, sr.SIGMA, sr.FLOOR = band, reach, weight, sigma, floor
        return sr.honour_strokes(img, mask, strokes, always)
    return fn


FULL = False


def main():
    sets = [dict(np.load(p, allow_pickle=True)) for p in sys.argv[1:]]
    variants = {"answer": lambda img, m, s: m,
                "growcut fusion (band 3, reach 8)": lambda img, m, s: growcut_seeded(img, fused_seeds(m, s))
                if ((s == 2) & m).any() or ((s == 1) & ~m).any() else m,
                "growcut fusion, every answer": lambda img, m, s: growcut_seeded(img, fused_seeds(m, s)),
                "geodesic band 3 reach 8 sigma 0 floor 0.05, every answer": geodesic(3, 8, 10.0, 0.0, 0.05, True),
                "cut": lambda img, m, s: sr.cut_by_negative(m, s),
                "cut + growcut fusion, every answer": lambda img, m, s: growcut_seeded(img, fused_seeds(sr.cut_by_negative(m, s), s)),
                "cut + geodesic band 3 reach 8 sigma 0 floor 0.05, every answer":
                    lambda img, m, s: geodesic(3, 8, 10.0, 0.0, 0.05, True)(img, sr.cut_by_negative(m, s), s),
                "geodesic band 3 reach 8 sigma 1 floor 1, every answer": geodesic(3, 8, 10.0, 1.0, 1.0, True),
                "geodesic band 2 reach 8 sigma 0 floor 0.05, every answer": geodesic(2, 8, 10.0, 0.0, 0.05, True)}
    for band, reach, weight, sigma, floor in itertools.product((0, 3), (8, 16), (10.0,), (0.0, 1.0), (1.0, 0.05)) if FULL else ():
        variants[f"geodesic band {band} reach {reach} sigma {sigma} floor {floor}"] = geodesic(band, reach, weight, sigma, floor)
    for name, fn in variants.items():
        print(f"{name:50s}", *[evaluate(s, fn) for s in sets], flush=True)


if __name__ == "__main__":
    main()

"""One-click 3D propagation quality on the bundled sample structures (the experiment behind the propagation stop
rules in docs/DESIGN-NOTES.md). Not a test.

For every labelled structure with >= 200 px on its largest axial slice: one click at the deepest point of that
slice, ``mode: 3d`` without an ROI ("free") and with the structure's tight 3D box ("roi"); 3D Dice against the
reference. ``--top-k`` compares values of the name stop rule (``medpclip.engine.policy.TOP_K``; 0 = off).

    python Testing/benchmarks/bench_propagation.py --top-k 5 0 3
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from scipy import ndimage

import medpclip.engine.policy as session_module
from medpclip.data.volume import read_label
from medpclip.engine import Engine
from medpclip.model.checkpoint import REPO_ROOT

SAMPLES = REPO_ROOT / "Resources" / "SampleData"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def structures(ref: np.ndarray, min_pixels: int = 200):
    """(value, reference mask, click (i, j, k), tight box) per structure large enough on its largest slice."""
    for value in (int(v) for v in np.unique(ref) if v):
        mask = ref == value
        areas = mask.sum(axis=(1, 2))
        if areas.max() < min_pixels:
            continue
        k = int(np.argmax(areas))
        depth = ndimage.distance_transform_edt(mask[k])
        j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
        kk, jj, ii = np.nonzero(mask)
        box = [int(ii.min()), int(jj.min()), int(kk.min()), int(ii.max()), int(jj.max()), int(kk.max())]
        yield value, mask, (int(i), int(j), k), box


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top-k", type=int, nargs="+", default=[session_module.TOP_K])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = Engine.from_checkpoint(None, device="cpu", threads=args.threads)
    scores: dict[int, dict[str, list[float]]] = {k: {"free": [], "roi": []} for k in args.top_k}
    names: list[str] = []
    for case in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        image = next(case.glob("image.*"))
        session = engine.open(image)
        ref = read_label(next(case.glob("label.*")), like=session.volume).array
        for value, mask, (i, j, k), box in structures(ref):
            names.append(f"{case.name}:{value}")
            for top_k in args.top_k:
                session_module.TOP_K = top_k if top_k > 0 else 10 ** 9
                free = session.segment({"space": "ijk", "points": [[i, j, k]], "mode": "3d"}, feedback=False)
                roi = session.segment({"space": "ijk", "box": box, "slice": k, "mode": "3d"}, feedback=False)
                scores[top_k]["free"].append(dice(free.mask > 0, mask))
                scores[top_k]["roi"].append(dice(roi.mask > 0, mask))
        session.close()
    print(f"{len(names)} structures; mean 3D Dice from one click (free) and from a tight 3D box (roi)")
    for top_k, s in scores.items():
        print(f"TOP_K {top_k if top_k > 0 else 'off':>4}: free {np.mean(s['free']):.3f}  roi {np.mean(s['roi']):.3f}")
    base = scores[args.top_k[0]]["free"]
    for top_k, s in list(scores.items())[1:]:
        changed = [f"{n} {d - b:+.3f}" for n, d, b in zip(names, s["free"], base) if abs(d - b) > 0.02]
        print(f"TOP_K {top_k} vs {args.top_k[0]}, free, changes > 0.02: {', '.join(changed) or 'none'}")


if __name__ == "__main__":
    main()

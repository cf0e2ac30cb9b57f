"""Replay edge-following refinements of box answers on recorded items (record_boxes.py): does the strokes' edge
competition help a box's answer too? (session 34 experiment)"""
from __future__ import annotations

import sys
import time

import numpy as np

import medpclip.engine.stroke_edges as se
from medpclip.data.masks import dice


def box_mask(shape, box, pad=0):
    m = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    m[max(0, y0 - pad):y1 + pad + 1, max(0, x0 - pad):x1 + pad + 1] = True
    return m


def refine_box(image, answer, box, spacing, outside_pad=1):
    """The box's outside (beyond ``outside_pad`` px) as negative strokes, then the strokes refinement."""
    strokes = np.zeros(answer.shape, np.uint8)
    strokes[~box_mask(answer.shape, box, outside_pad)] = 2
    return se.refine_to_strokes(image, answer & box_mask(answer.shape, box, outside_pad), strokes, spacing)


def main():
    for path in sys.argv[1:]:
        it = dict(np.load(path, allow_pickle=True))
        for name, fn in (("answer", lambda i, a, b, s: a),
                         ("clipped to box", lambda i, a, b, s: a & box_mask(a.shape, b, 1)),
                         ("edge refinement, box outside negative", refine_box)):
            for share in ((1.0, 0.5) if name.startswith("edge") else (None,)):
                if share:
                    se.BAND_SHARE = share
                res, ms = {}, []
                for k in range(len(it["dataset"])):
                    t0 = time.perf_counter()
                    m = fn(it["image"][k].astype(np.float32), it["answer"][k], tuple(it["box"][k]), tuple(it["spacing"][k]))
                    ms.append((time.perf_counter() - t0) * 1000)
                    res.setdefault(it["dataset"][k], []).append(dice(m, it["target"][k]))
                r = {d: round(float(np.mean(v)), 4) for d, v in sorted(res.items())}
                print(path, f"{name} share {share}", r, round(float(np.mean(list(r.values()))), 4),
                      f"ms median {np.median(ms):.1f}", flush=True)


if __name__ == "__main__":
    main()

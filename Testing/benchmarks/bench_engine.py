"""Engine benchmark (not a test): a 512 x 512 x 300 CT session on this machine.

The volume is the bundled sample CT resampled to 512 x 512 x 300 (real anatomy, realistic size). Prints the
first click on a new slice, cached clicks (median / p95), 3D propagation speed of a liver click, and the
process's peak resident memory.

    .venv/bin/python Testing/benchmarks/bench_engine.py [--threads 2] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from scipy import ndimage

from medpclip.data.volume import Volume, read_image, read_label
from medpclip.engine import Engine
from medpclip.evaluation.clicks import dice, max_edt_point
from medpclip.model.checkpoint import REPO_ROOT

CASE = REPO_ROOT / "Resources" / "SampleData" / "totalseg_ct_abdomen"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint")
    ap.add_argument("--clicks", type=int, default=40)
    args = ap.parse_args()
    small = read_image(CASE / "image.nii.gz")
    label = read_label(CASE / "label.nii.gz", like=small).array
    target = (300, 512, 512)
    factors = [t / s for t, s in zip(target, small.array.shape)]
    big = ndimage.zoom(small.array, factors, order=1).astype(np.float32)
    liver = ndimage.zoom((label == 5).astype(np.uint8), factors, order=0) > 0
    affine = small.affine.copy()
    affine[:3, :3] = affine[:3, :3] / np.array(factors[::-1])[None, :]
    vol = Volume(big, affine, "CT")
    rss_loaded = peak_rss_mb()
    engine = Engine.from_checkpoint(args.checkpoint, threads=args.threads)
    t = time.perf_counter()
    session = engine.open(vol)
    open_s = time.perf_counter() - t
    k = int(np.argmax(liver.sum(axis=(1, 2))))
    r, c = max_edt_point(liver[k])
    cached_ms = []
    rng = np.random.default_rng(0)
    first_ms = []
    for kk in rng.choice(np.arange(20, 280), size=10, replace=False):
        kk = int(kk)
        if session.cached("axial", session.canon_slice_index("axial", kk)):
            continue
        time.sleep(0.3)  # users do not click faster than this; lets the neighbour prefetch of the last click finish
        res = session.segment({"points": [[256, 256, kk]]}, feedback=False)
        first_ms.append(res.latency_ms["total_ms"])
    for n in range(args.clicks):
        res = session.segment({"points": [[c + (n % 5), r, k]]}, feedback=False)
        cached_ms.append(res.latency_ms["total_ms"])
    res3d = session.segment({"points": [[c, r, k]], "mode": "3d"}, feedback=False)
    report = {
        "volume": list(big.shape[::-1]), "threads": args.threads, "session_open_s": round(open_s, 2),
        "first_click_new_slice_ms": {"median": round(float(np.median(first_ms)), 1), "n": len(first_ms)},
        "cached_click_ms": {"median": round(float(np.median(cached_ms)), 1),
                            "p95": round(float(np.percentile(cached_ms, 95)), 1), "n": len(cached_ms)},
        "propagation": {"slices": len(res3d.slices), "slices_per_s": round(res3d.latency_ms.get("propagate_slices_per_s", 0), 1),
                        "liver_dice_3d": round(dice(res3d.mask > 0, liver), 3)},
        "peak_rss_mb": {"after_loading_volume": round(rss_loaded, 0), "session_total": round(peak_rss_mb(), 0)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

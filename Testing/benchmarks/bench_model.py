"""Model-core benchmark (not a test): trunk time per 256x256 slice and prompt-blocks + decoder time per
click for a config, on this machine. Prints medians and p95 in milliseconds.

    .venv/bin/python Testing/benchmarks/bench_model.py [--config tiny] [--threads 2] [--repeats 50]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from medpclip.model import MedPCLIP, Prompts, get_config


def timeit(fn, repeats: int) -> np.ndarray:
    for _ in range(5):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_config(args.config)
    model = MedPCLIP(cfg).eval()
    s = cfg.image_size
    img = torch.rand(1, 1, s, s)
    prompts = Prompts(torch.tensor([[[100.0, 120.0], [140.0, 90.0]]]), torch.tensor([[1, 0]]))
    with torch.inference_mode():
        feats = model.encode_slices(img)
        trunk = timeit(lambda: model.encode_slices(img), args.repeats)
        click = timeit(lambda: model.prompted(feats, prompts), args.repeats)
        region = timeit(lambda: model.prompted(feats, prompts, with_masks=False), args.repeats)
    report = {
        "config": cfg.name, "image_size": s, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__, "parameters": model.parameter_counts()["total"],
        "trunk_ms": {"median": round(float(np.median(trunk)), 2), "p95": round(float(np.percentile(trunk, 95)), 2)},
        "click_ms": {"median": round(float(np.median(click)), 2), "p95": round(float(np.percentile(click, 95)), 2)},
        "region_only_ms": {"median": round(float(np.median(region)), 2), "p95": round(float(np.percentile(region, 95)), 2)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

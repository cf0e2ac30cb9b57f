"""MONAI Label server benchmark (not a test): the real server over HTTP, as the Slicer plugin talks to it.

Measures, on the bundled sample CT (122 x 101 x 30):

1. round trip per click on a cached image: ``--clicks`` 2D deepgrow clicks (positive clicks inside the liver on
   its largest slices, the image's session and those slices' trunk features already cached), client-side
   wall time from request to the decoded multipart answer (label file + params); median and p95, plus the
   server-side task time;
2. ``/info`` latency while an inference runs: a 3D text search on an image not opened yet (a new session and
   every trunk to compute) runs in one thread while another polls ``/info`` every 100 ms;
3. ``--clients`` concurrent clients x ``--per-client`` clicks each (2D clicks on several slices of the cached
   image): error count, latency median / p95 and throughput.

    python Testing/benchmarks/bench_server.py [--url http://127.0.0.1:8000] [--checkpoint PATH] [--json out.json]

Without ``--url`` it starts its own server (a temporary copy of two sample studies, a temporary app folder) and
stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import SimpleITK as sitk
from requests_toolbelt.multipart.decoder import MultipartDecoder

from medpclip.model.checkpoint import REPO_ROOT
from medpclip.monailabel.serve import LocalServer

CT = "totalseg_ct_abdomen"
MR = "totalseg_mr_abdomen"
CASE = REPO_ROOT / "Resources" / "SampleData" / CT
LIVER = 5


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def liver_clicks(n: int, seed: int = 0) -> list[tuple[int, int, int]]:
    """n (i, j, k) positive clicks inside the liver on its 5 largest axial slices."""
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(CASE / "label.nii.gz"))) == LIVER
    areas = ref.sum(axis=(1, 2))
    slices = [int(k) for k in np.argsort(-areas)[:5]]
    rng = np.random.default_rng(seed)
    out = []
    for n_ in range(n):
        k = slices[n_ % len(slices)]
        ys, xs = np.nonzero(ref[k])
        p = int(rng.integers(len(ys)))
        out.append((int(xs[p]), int(ys[p]), k))
    return out


def click(url: str, ijk, timeout: float = 120) -> tuple[float, dict | None, str | None]:
    """-> (round trip s, server params, error)."""
    i, j, k = ijk
    params = {"label": "liver", "foreground": [[i, j, k]], "background": [], "slice": k,
              "result_extension": ".nrrd", "result_dtype": "uint8", "client_id": "bench"}
    t0 = time.perf_counter()
    try:
        r = requests.post(f"{url}/infer/medpclip_interactive", params={"image": CT},
                          data={"params": json.dumps(params)}, timeout=timeout)
        if r.status_code != 200:
            return time.perf_counter() - t0, None, f"HTTP {r.status_code}: {r.text[:200]}"
        got, label = None, None
        for part in MultipartDecoder.from_response(r).parts:
            disp = part.headers[b"Content-Disposition"].decode()
            if 'name="params"' in disp:
                got = json.loads(part.content)
            elif 'name="image"' in disp:
                label = part.content
        dt = time.perf_counter() - t0
        if got is None or not label:
            return dt, got, "answer without params or label file"
        return dt, got, None
    except requests.RequestException as exc:
        return time.perf_counter() - t0, None, f"{type(exc).__name__}: {exc}"


def bench_cached_clicks(url: str, n: int) -> dict:
    clicks = liver_clicks(n + 5, seed=1)
    for c in clicks[:5]:                        # warm: session open + the 5 slices' trunks
        _, _, err = click(url, c)
        if err:
            raise RuntimeError(f"warm-up click failed: {err}")
    rt, task, cached = [], [], 0
    for c in clicks[5:]:
        dt, p, err = click(url, c)
        if err:
            raise RuntimeError(f"click failed: {err}")
        rt.append(dt * 1000)
        task.append(p["latency_ms"]["task_ms"])
        cached += int(p["session_cached"] and p["latency_ms"]["trunk_cached"] == 1.0)
    return {"clicks": n, "round_trip_ms_median": round(statistics.median(rt), 1), "round_trip_ms_p95": round(pct(rt, 95), 1),
            "round_trip_ms_max": round(max(rt), 1), "server_task_ms_median": round(statistics.median(task), 1),
            "all_cached": cached == n}


def bench_info_during_inference(url: str) -> dict:
    result: dict = {}

    def run():
        t0 = time.perf_counter()
        r = requests.post(f"{url}/infer/medpclip_find", params={"image": MR},
                          data={"params": json.dumps({"text": "liver", "mode": "3d"})}, timeout=600)
        result.update(status=r.status_code, seconds=time.perf_counter() - t0)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    lat = []
    while worker.is_alive():
        t0 = time.perf_counter()
        r = requests.get(f"{url}/info/", timeout=60)
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
        time.sleep(0.1)
    worker.join()
    return {"inference": "medpclip_find 3d on a new image", "inference_status": result["status"],
            "inference_s": round(result["seconds"], 2), "info_requests": len(lat),
            "info_ms_median": round(statistics.median(lat), 1) if lat else None,
            "info_ms_max": round(max(lat), 1) if lat else None}


def bench_concurrent(url: str, clients: int, per_client: int) -> dict:
    all_clicks = liver_clicks(clients * per_client, seed=2)
    errors: list[str] = []
    lat: list[float] = []
    lock = threading.Lock()

    def client(c: int):
        for n in range(per_client):
            dt, _, err = click(url, all_clicks[c * per_client + n])
            with lock:
                lat.append(dt * 1000)
                if err:
                    errors.append(err)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    return {"clients": clients, "clicks_per_client": per_client, "requests": len(lat), "errors": len(errors),
            "first_errors": errors[:3], "latency_ms_median": round(statistics.median(lat), 1),
            "latency_ms_p95": round(pct(lat, 95), 1), "wall_s": round(wall, 1),
            "throughput_clicks_per_s": round(len(lat) / wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="use a running server (it must serve totalseg_ct_abdomen and totalseg_mr_abdomen)")
    ap.add_argument("--checkpoint", help="checkpoint for the server this script starts")
    ap.add_argument("--clicks", type=int, default=50)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the server this script starts")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    server = None
    tmp = tempfile.TemporaryDirectory(prefix="medpclip_bench_")
    try:
        url = args.url
        if url is None:
            server = LocalServer.for_samples(Path(tmp.name), [CT, MR], args.threads, checkpoint=args.checkpoint)
            t0 = time.perf_counter()
            server.start(timeout=180)
            print(f"server up in {time.perf_counter() - t0:.1f} s at {server.url}", file=sys.stderr)
            url = server.url
        info = requests.get(f"{url}/info/", timeout=30).json()
        results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                               "python": platform.python_version()},
                   "weights": info.get("medpclip", {}).get("weights")}
        print("1/3 cached clicks ...", file=sys.stderr)
        results["cached_click"] = bench_cached_clicks(url, args.clicks)
        print("2/3 /info during an inference ...", file=sys.stderr)
        results["info_during_inference"] = bench_info_during_inference(url)
        print("3/3 concurrent clients ...", file=sys.stderr)
        results["concurrent"] = bench_concurrent(url, args.clients, args.per_client)
        results["weights"] = requests.get(f"{url}/info/", timeout=30).json().get("medpclip", {}).get("weights")
        text = json.dumps(results, indent=2)
        print(text)
        if args.json:
            Path(args.json).write_text(text)
        return 0
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())

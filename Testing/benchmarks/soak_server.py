"""Load + soak of the MedP-CLIP MONAI Label server (issue 8). Not a test; ``Testing/test_reliability_soak.py`` runs
a short version in CI.

Starts the real server (``LocalServer``: ``python -m monailabel.main start_server`` in a child process on a free
loopback port, serving a temporary copy of the sample CT and MR), warms both images up, then for ``--seconds``
runs ``--clients`` concurrent client threads, each with a mixed workload:

* ``click``: ``POST /infer/medpclip_interactive`` (2D deepgrow click inside a labelled structure, identification
  on, as the Slicer plugin sends it) on the cached images;
* ``identify``: ``POST /infer/medpclip_identify`` (a click -> ranked names, JSON);
* ``label``: ``PUT /datastore/label`` (the image's reference label map, as *Submit label* does), to a per-client tag
  and to ``final``.

A poller calls ``GET /info/`` twice a second throughout, and a sampler records the server's RSS (server process
plus children, from /proc via psutil) every ``--sample-every`` seconds. At the end every uploaded label is
downloaded again and compared byte for byte.

    python Testing/benchmarks/soak_server.py [--seconds 600] [--clients 8] [--token T]
        [--json docs/results/soak_server.json] [--png docs/results/soak_server_rss.png]

Prints and writes: requests served and errors per kind, latency p50 / p95 / p99 / max per kind, ``/info``
p50 / p99 / max, RSS start (after warm-up) / end / max and its curve.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
import SimpleITK as sitk

from medpclip.model.checkpoint import REPO_ROOT
from medpclip.monailabel.serve import LocalServer

log = logging.getLogger("soak")

CT = "totalseg_ct_abdomen"
MR = "totalseg_mr_abdomen"
IMAGES = (CT, MR)
SAMPLES = REPO_ROOT / "Resources" / "SampleData"
WORKLOAD = (("click", 0.6), ("identify", 0.2), ("label", 0.2))


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values), q)), 1) if values else None


@dataclass
class Record:
    kind: str
    t: float                 # seconds since the start of the soak
    ms: float
    status: int              # HTTP status, 0 for a client-side exception
    error: str = ""


@dataclass
class Soak:
    """Shared state of one run (records are appended from several threads; list.append is atomic)."""

    server: LocalServer
    deadline: float
    t0: float
    headers: dict[str, str]
    records: list[Record] = field(default_factory=list)
    info: list[Record] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    uploaded: dict[tuple[str, str], bytes] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)


# -- workload --------------------------------------------------------------------------------------------
def click_targets(case: str, per_image: int = 400, slices: int = 6, seed: int = 0) -> list[tuple[int, int, int]]:
    """(i, j, k) voxels inside labelled structures of the case's reference label, on its ``slices`` axial slices
    with the most labelled voxels (the slices an annotator works on; their trunks get cached)."""
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLES / case / "label.nii.gz")))
    keep = np.argsort(-(ref > 0).sum(axis=(1, 2)))[:slices]
    ref = np.where(np.isin(np.arange(ref.shape[0]), keep)[:, None, None], ref, 0)
    kk, jj, ii = np.nonzero(ref)
    pick = np.random.default_rng(seed).choice(len(kk), size=min(per_image, len(kk)), replace=False)
    return [(int(ii[n]), int(jj[n]), int(kk[n])) for n in pick]


def _infer(session: requests.Session, soak: Soak, model: str, image: str, params: dict[str, Any]) -> requests.Response:
    return session.post(f"{soak.server.url}/infer/{model}", params={"image": image},
                        data={"params": json.dumps(params)}, headers=soak.headers, timeout=120)


def _put_label(session: requests.Session, soak: Soak, image: str, tag: str) -> requests.Response:
    data = (SAMPLES / image / "label.nii.gz").read_bytes()
    r = session.put(f"{soak.server.url}/datastore/label", params={"image": image, "tag": tag},
                    data={"params": json.dumps({"label_info": [{"name": "liver", "idx": 5}]})},
                    files={"label": ("label.nii.gz", data)}, headers=soak.headers, timeout=120)
    if r.status_code == 200:
        soak.uploaded[(image, tag)] = data
    return r


def one_request(session: requests.Session, soak: Soak, kind: str, rng: random.Random, client: int,
                targets: dict[str, list[tuple[int, int, int]]]) -> requests.Response:
    image = rng.choice(IMAGES)
    i, j, k = rng.choice(targets[image])
    if kind == "click":
        return _infer(session, soak, "medpclip_interactive", image, {"foreground": [[i, j, k]], "background": [],
                                                                      "slice": k, "label": "structure"})
    if kind == "identify":
        return _infer(session, soak, "medpclip_identify", image, {"foreground": [[i, j, k]], "top_k": 5})
    return _put_label(session, soak, image, "final" if rng.random() < 0.25 else f"soak_c{client}")


def client_loop(soak: Soak, client: int, targets: dict[str, list[tuple[int, int, int]]]) -> None:
    rng = random.Random(client)
    kinds, weights = zip(*WORKLOAD)
    with requests.Session() as session:
        while time.monotonic() < soak.deadline and not soak.stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            t = time.monotonic()
            try:
                r = one_request(session, soak, kind, rng, client, targets)
                rec = Record(kind, t - soak.t0, (time.monotonic() - t) * 1000, r.status_code,
                             "" if r.status_code == 200 else r.text[:300])
            except requests.RequestException as exc:
                rec = Record(kind, t - soak.t0, (time.monotonic() - t) * 1000, 0, f"{type(exc).__name__}: {exc}"[:300])
            soak.records.append(rec)


def info_loop(soak: Soak, every: float = 0.5) -> None:
    with requests.Session() as session:
        while not soak.stop.is_set():
            t = time.monotonic()
            try:
                r = session.get(f"{soak.server.url}/info/", headers=soak.headers, timeout=30)
                status, err = r.status_code, "" if r.status_code == 200 else r.text[:300]
            except requests.RequestException as exc:
                status, err = 0, f"{type(exc).__name__}: {exc}"[:300]
            soak.info.append(Record("info", t - soak.t0, (time.monotonic() - t) * 1000, status, err))
            soak.stop.wait(max(0.0, every - (time.monotonic() - t)))


def server_rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2 ** 20


def rss_loop(soak: Soak, every: float) -> None:
    while not soak.stop.is_set():
        try:
            soak.rss.append((round(time.monotonic() - soak.t0, 1), round(server_rss_mb(soak.server.proc.pid), 1)))
        except Exception as exc:  # the server died: the request errors will say so
            log.error("RSS sample failed: %s", exc)
        soak.stop.wait(every)


# -- run -------------------------------------------------------------------------------------------------
def warm_up(soak: Soak, targets: dict[str, list[tuple[int, int, int]]]) -> None:
    """Open both images and compute the trunks of the clicked slices, so the soak measures cached clicks."""
    with requests.Session() as session:
        for image in IMAGES:
            for k in sorted({t[2] for t in targets[image]}):
                i, j, _ = next(t for t in targets[image] if t[2] == k)
                r = _infer(session, soak, "medpclip_interactive", image, {"foreground": [[i, j, k]], "slice": k})
                r.raise_for_status()


def verify_labels(soak: Soak) -> list[str]:
    """Every label the server acknowledged must download byte-identical."""
    problems = []
    for (image, tag), data in sorted(soak.uploaded.items()):
        r = requests.get(f"{soak.server.url}/datastore/label", params={"label": image, "tag": tag},
                         headers=soak.headers, timeout=60)
        if r.status_code != 200 or r.content != data:
            problems.append(f"{image} [{tag}]: HTTP {r.status_code}, {len(r.content)} bytes (expected {len(data)})")
    stray = [p.name for p in soak.server.studies.rglob("*") if p.name.endswith((".part", ".tmp"))]
    return problems + [f"temp file left: {n}" for n in stray]


def summarise(soak: Soak, seconds: float, clients: int, label_problems: list[str]) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in [k for k, _ in WORKLOAD]:
        recs = [r for r in soak.records if r.kind == kind]
        ok = [r.ms for r in recs if r.status == 200]
        kinds[kind] = {"requests": len(recs), "errors": len(recs) - len(ok), "p50_ms": pct(ok, 50),
                       "p95_ms": pct(ok, 95), "p99_ms": pct(ok, 99), "max_ms": pct(ok, 100)}
    info_ok = [r.ms for r in soak.info if r.status == 200]
    rss = [mb for _, mb in soak.rss]
    half = [(t, mb) for t, mb in soak.rss if t >= seconds / 2]
    warm = [mb for t, mb in soak.rss if t >= seconds / 4]  # after the first quarter: caches and allocator warmed up
    slope = float(np.polyfit(*zip(*half), 1)[0]) * 60 if len(half) >= 3 else None
    errors = [r for r in soak.records + soak.info if r.status != 200]
    return {
        "seconds": seconds, "clients": clients, "workload": dict(WORKLOAD),
        "requests": len(soak.records), "errors": len(errors),
        "error_samples": [f"{r.kind} {r.status} {r.error}" for r in errors[:10]],
        "throughput_rps": round(len(soak.records) / seconds, 2),
        "per_kind": kinds,
        "info": {"requests": len(soak.info), "errors": len(soak.info) - len(info_ok), "p50_ms": pct(info_ok, 50),
                 "p99_ms": pct(info_ok, 99), "max_ms": pct(info_ok, 100)},
        "rss_mb": {"start": rss[0] if rss else None, "end": rss[-1] if rss else None,
                   "max": max(rss) if rss else None, "growth": round(rss[-1] - rss[0], 1) if rss else None,
                   "growth_after_warmup": round(warm[-1] - warm[0], 1) if warm else None,
                   "second_half_slope_mb_per_min": round(slope, 2) if slope is not None else None,
                   "curve": soak.rss},
        "labels": {"acknowledged_distinct": len(soak.uploaded), "problems": label_problems},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }


def run_soak(server: LocalServer, seconds: float, clients: int = 8, sample_every: float = 2.0,
             token: str | None = None) -> dict[str, Any]:
    """Soak an already started server (its ``studies`` attribute is the studies folder)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    targets = {image: click_targets(image, seed=n) for n, image in enumerate(IMAGES)}
    soak = Soak(server, 0.0, 0.0, headers)
    warm_up(soak, targets)
    soak.t0 = time.monotonic()
    soak.deadline = soak.t0 + seconds
    helpers = [threading.Thread(target=info_loop, args=(soak,), daemon=True),
               threading.Thread(target=rss_loop, args=(soak, sample_every), daemon=True)]
    workers = [threading.Thread(target=client_loop, args=(soak, c, targets), daemon=True) for c in range(clients)]
    for t in helpers + workers:
        t.start()
    for t in workers:
        t.join()
    soak.stop.set()
    for t in helpers:
        t.join()
    soak.rss.append((round(time.monotonic() - soak.t0, 1), round(server_rss_mb(server.proc.pid), 1)))
    return summarise(soak, seconds, clients, verify_labels(soak))


def start_server(root: Path, token: str | None = None, threads: int = 2) -> LocalServer:
    return LocalServer.for_samples(root, list(IMAGES), threads, token=token).start(timeout=180)


def plot_rss(summary: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    t, mb = zip(*summary["rss_mb"]["curve"])
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(np.asarray(t) / 60, mb, lw=1.5)
    ax.set_xlabel("minutes")
    ax.set_ylabel("server RSS (MiB)")
    ax.set_title(f"soak: {summary['clients']} clients, {summary['requests']} requests, {summary['errors']} errors")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(summary: dict[str, Any]) -> str:
    lines = [f"{summary['seconds']:.0f} s, {summary['clients']} clients: {summary['requests']} requests "
             f"({summary['throughput_rps']} /s), {summary['errors']} errors"]
    for kind, k in summary["per_kind"].items():
        lines.append(f"  {kind:9s} {k['requests']:6d} req  {k['errors']} err  p50 {k['p50_ms']} ms  "
                     f"p95 {k['p95_ms']} ms  p99 {k['p99_ms']} ms  max {k['max_ms']} ms")
    i, m = summary["info"], summary["rss_mb"]
    lines.append(f"  /info     {i['requests']:6d} req  {i['errors']} err  p50 {i['p50_ms']} ms  p99 {i['p99_ms']} ms  "
                 f"max {i['max_ms']} ms")
    lines.append(f"  RSS start {m['start']} MiB, end {m['end']} MiB, max {m['max']} MiB, growth {m['growth']} MiB, "
                 f"second-half slope {m['second_half_slope_mb_per_min']} MiB/min")
    lines.append(f"  labels: {summary['labels']['acknowledged_distinct']} distinct acknowledged, "
                 f"problems {summary['labels']['problems'] or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--sample-every", type=float, default=2.0, help="RSS sampling period (s)")
    p.add_argument("--token", help="start the server with this token (and send it)")
    p.add_argument("--threads", type=int, default=2, help="server torch threads")
    p.add_argument("--json", default=str(REPO_ROOT / "docs" / "results" / "soak_server.json"))
    p.add_argument("--png", default=str(REPO_ROOT / "docs" / "results" / "soak_server_rss.png"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="medpclip_soak_") as tmp:
        srv = start_server(Path(tmp), args.token, args.threads)
        try:
            summary = run_soak(srv, args.seconds, args.clients, args.sample_every, args.token)
            summary["server_alive"] = srv.alive()
        finally:
            srv.stop()
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    png = plot_rss(summary, Path(args.png))
    print(report(summary))
    print(f"wrote {out}" + (f" and {png}" if png else ""))
    return 0 if summary["errors"] == 0 and not summary["labels"]["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())

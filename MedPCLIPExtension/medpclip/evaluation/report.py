"""What a benchmark run writes: environment facts (machine, packages, checkpoint, git), results.json, the plots
(Dice vs clicks, example overlays) and results.md."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..fileio import atomic_write
from .protocol import REPORT_CLICKS

if TYPE_CHECKING:
    from ..engine.session import Engine
    from .benchmark import BenchmarkOptions

REPO = Path(__file__).resolve().parents[3]


# -- environment ----------------------------------------------------------------------------------------------
def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None


def git_state() -> dict[str, Any]:
    """``git_commit`` (short HEAD) and ``git_modified`` (tracked package / test files differing from HEAD: the
    code that ran was not exactly the commit)."""
    head = _git("rev-parse", "--short", "HEAD")
    diff = _git("diff", "--name-only", "HEAD", "--", "MedPCLIPExtension", "Resources/Models")
    return {"git_commit": (head.stdout.strip() or None) if head is not None else None,
            "git_modified": diff.stdout.split() if diff is not None and diff.returncode == 0 else None}


@dataclass
class RunStart:
    """Taken when a run starts: the clock, the load average, and the git state (others may commit during a long
    run)."""

    t: float = field(default_factory=time.perf_counter)
    load_average: float | None = field(default_factory=lambda: os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
    git: dict[str, Any] = field(default_factory=git_state)

    def wall_s(self) -> float:
        return round(time.perf_counter() - self.t, 1)


def environment(engine: Engine | None, opts: BenchmarkOptions, start: RunStart) -> dict[str, Any]:
    """Machine, packages, checkpoint, and the git state at ``start``."""
    import importlib.metadata as md

    import torch

    def version(pkg: str) -> str | None:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load_start = start.load_average
    env: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "command": opts.command or "medpclip benchmark " + " ".join(sys.argv[2:]),
        "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
        "load_average_at_start": round(load_start, 2) if load_start is not None else None,
        "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__, "SimpleITK": version("SimpleITK"), "itk": version("itk"),
        "itk-growcut": version("itk-growcut"), "segment-anything": version("segment-anything"),
        "medpclip": version("medpclip"), **start.git,
    }
    if engine is not None:
        ck = engine.checkpoint
        env["device"] = str(engine.device)
        env["precision"] = engine.precision
        env["checkpoint"] = {"path": str(ck.path), "sha256": ck.sha256, "trained": ck.trained,
                             "steps": ck.provenance.get("steps")}
    return env


# -- outputs --------------------------------------------------------------------------------------------------
def write_outputs(results: dict[str, Any], opts: BenchmarkOptions, examples: list[dict],
                  render: Callable[[dict[str, Any]], str] | None = None) -> None:
    """results.json (written twice: before the plots, so a plotting failure keeps the numbers), plots, results.md
    (``render``, default ``markdown``)."""
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.json", json.dumps(results, indent=1, default=_json_default))
    plots = plot_dice_vs_clicks(results, out / "dice_vs_clicks.png")
    plots += plot_examples(examples, out, opts.methods)
    results.setdefault("outputs", {})["plots"] = [p.name for p in plots]
    (out / "results.md").write_text((render or markdown)(results))
    atomic_write(out / "results.json", json.dumps(results, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def brief(results: dict[str, Any]) -> dict[str, Any]:
    """results.json without the per-trial lists (what --json prints)."""
    return {k: v for k, v in results.items() if not k.startswith("trials_")}


# -- plots ----------------------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curve(trials: list[dict], clicks: int) -> list[float]:
    return [float(np.mean([t["dice"][min(k, len(t["dice"])) - 1] for t in trials])) for k in range(1, clicks + 1)]


def plot_dice_vs_clicks(results: dict[str, Any], path: Path) -> list[Path]:
    plt = _pyplot()
    clicks = results["protocol"]["clicks"]
    firsts = results["protocol"]["first_prompts"]
    t2, t3 = results["trials_2d"], results["trials_3d"]
    panels = [(f"2D, first prompt: {f}", [t for t in t2 if t["first"] == f]) for f in firsts]
    if t3:
        panels.append(("3D: box + propagation, 3D clicks", t3))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    colors = {"medpclip": "tab:red", "growcut": "tab:blue", "regiongrow": "tab:green"}
    xs = np.arange(1, clicks + 1)
    for ax, (title, trials) in zip(axes[0], panels):
        for m in results["methods"]:
            sel = [t for t in trials if t["method"] == m]
            if sel:
                ax.plot(xs, _curve(sel, clicks), "-o", ms=3, label=f"{m} (n={len(sel)})", color=colors.get(m))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("interactions (first prompt + correction clicks)")
        ax.set_ylabel("mean Dice")
        ax.set_ylim(0, 1)
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Dice vs clicks on {results['protocol'].get('scope', 'held-out slices')}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def overlay_choice(plan: Sequence[tuple], n: int) -> set[tuple]:
    """Which 2D trials get an example overlay: the largest click-first item of each (case, slab, items2d, items3d)
    of ``plan``, cases in order, up to ``n``; keys as in ``runners.run_items_2d``."""
    keys = []
    for case, _, items2d, _ in plan:
        if items2d and len(keys) < n:
            it = max(items2d, key=lambda i: i.pixels)
            keys.append((case.spec.name, it.idx, it.value, "click"))
    return set(keys)


def plot_examples(examples: list[dict], out: Path, methods: Sequence[str]) -> list[Path]:
    plt = _pyplot()
    paths = []
    keys = list(dict.fromkeys(e["key"] for e in examples))
    for n, key in enumerate(keys):
        sel = {e["method"]: e for e in examples if e["key"] == key}
        ms = [m for m in methods if m in sel]
        fig, axes = plt.subplots(1, len(ms), figsize=(3.6 * len(ms), 3.8), squeeze=False)
        rows, cols = np.nonzero(sel[ms[0]]["target"])
        h, w = sel[ms[0]]["target"].shape
        half = max(24, int(1.5 * max(rows.ptp(), cols.ptp()) + 8))   # zoom on the structure, context around it
        rc, cc = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
        for ax, m in zip(axes[0], ms):
            e = sel[m]
            ax.imshow(e["image"], cmap="gray", vmin=0, vmax=1)
            ax.contour(e["target"], levels=[0.5], colors="yellow", linewidths=1.0)
            if e["mask"].any():
                ax.contour(e["mask"], levels=[0.5], colors="red", linewidths=1.0)
            for r, c, lab in e["points"]:
                ax.plot(c, r, "+" if lab == 1 else "x", color="lime" if lab == 1 else "cyan", ms=7, mew=2)
            ax.set_title(f"{m}: Dice {e['dice']:.2f} after {e['clicks']} interactions", fontsize=9)
            ax.set_xlim(max(-0.5, cc - half), min(w - 0.5, cc + half))
            ax.set_ylim(min(h - 0.5, rc + half), max(-0.5, rc - half))
            ax.axis("off")
        case, idx, _, first = key
        fig.suptitle(f"{case} / {sel[ms[0]]['label']} (canonical axial slice {idx}); yellow = reference, "
                     "red = result, + / x = positive / negative clicks (zoomed: clicks outside the view are not shown)", fontsize=8)
        fig.tight_layout()
        p = out / f"example_{n + 1}_{case}_{sel[ms[0]]['label']}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)
    return paths


# -- results.md -----------------------------------------------------------------------------------------------
def fmt(v: Any, nd: int = 3) -> str:
    """A table cell: ``-`` for None, floats to ``nd`` decimals."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def markdown(results: dict[str, Any]) -> str:
    p, env = results["protocol"], results.get("environment", {})
    ks = [k for k in REPORT_CLICKS if k <= p["clicks"]]
    lines = ["# MedP-CLIP benchmark results", "",
             f"- date (UTC): {env.get('date_utc')}; command: `{env.get('command')}`",
             f"- machine: {env.get('cpu')} ({env.get('cpu_count')} cores), torch {env.get('torch')} with "
             f"{env.get('torch_threads')} threads on {env.get('device', 'cpu')} ({env.get('precision', 'fp32')}); "
             f"load average at start "
             f"{env.get('load_average_at_start')}; wall time {env.get('wall_s')} s",
             f"- checkpoint: {env.get('checkpoint', {}).get('path')} (sha256 {str(env.get('checkpoint', {}).get('sha256'))[:12]}, "
             f"steps {env.get('checkpoint', {}).get('steps')})",
             f"- cases: {', '.join(p['cases'])}; {p['items_2d']} (slice, structure) items and {p['items_3d']} 3D "
             f"structures on held-out slices; structures >= {p['min_pixels']} px; {p['clicks']} interactions "
             f"(NoC simulated up to {p['noc_max']}, cap {p['noc_cap']})", ""]
    for first in p["first_prompts"]:
        lines += [f"## 2D, first prompt: {first}", "",
                  "| method | n | " + " | ".join(f"Dice@{k}" for k in ks) + " | NoC@85 | NoC@90 | ms / interaction (median) |",
                  "|---|---|" + "---|" * (len(ks) + 3)]
        for m, e in results["methods"].items():
            s = e if e.get("first_prompt") == first else e.get(first, {})
            lines.append(f"| {m} | {s.get('n', 0)} | " + " | ".join(fmt(s.get(f"dice@{k}")) for k in ks)
                         + f" | {fmt(s.get('noc85'), 2)} | {fmt(s.get('noc90'), 2)} | {fmt(e.get('ms_per_interaction_median'), 1)} |")
        lines.append("")
    if p["volumes_3d"]:
        lines += ["## 3D: box on the middle held-out slice + propagation, then 3D correction clicks", "",
                  "| method | n | " + " | ".join(f"Dice@{k}" for k in ks) + " | " + " | ".join(f"NSD@{k}" for k in ks) + " |",
                  "|---|---|" + "---|" * (2 * len(ks))]
        for m, e in results["methods"].items():
            s = e.get("3d", {})
            lines.append(f"| {m} | {s.get('n', 0)} | " + " | ".join(fmt(s.get(f"dice@{k}")) for k in ks) + " | "
                         + " | ".join(fmt(s.get(f"nsd@{k}")) for k in ks) + " |")
        lines += ["", f"NSD: surface Dice at {p['surface_tolerance_mm']} mm.", ""]
    ours = results["methods"].get("medpclip")
    if ours and ours.get("top1") is not None:
        g = ours.get
        lines += ["## Recognition (MedP-CLIP, 2D items)", "",
                  "| prompt | Top-1, case's names | Top-5, case's names | Top-1, all cases' names | Top-5, all cases' names |",
                  "|---|---|---|---|---|"]
        for label, sfx in (("mask", ""), ("box", "_box"), ("1 click", "_point")):
            lines.append(f"| {label} | {fmt(g(f'top1{sfx}'))} | {fmt(g(f'top5{sfx}'))} | "
                         f"{fmt(g(f'top1_dataset{sfx}'))} | {fmt(g(f'top5_dataset{sfx}'))} |")
        lines += ["", f"Top-1 over the whole built-in vocabulary (mask prompt): {fmt(g('top1_all_vocabulary'))}. "
                  "A case with one label is trivially right among its own names.", ""]
    lat = results["latency"]
    lines += ["## Latency (MedP-CLIP)", "", "| measure | value |", "|---|---|"]
    for k in ("trunk_ms_median", "trunk_ms_p95", "click_ms_median", "click_ms_p95", "click_model_ms_median",
              "click_model_ms_p95", "propagate_slices_per_s", "propagate_slices_per_s_cached"):
        if k in lat:
            lines.append(f"| {k} | {fmt(lat[k], 2)} |")
    sam = results.get("sam_speed_peer", {})
    lines += ["", "## Speed peer: SAM ViT-B (random weights, compute cost only)", ""]
    if sam.get("available"):
        f, fr = sam["flops"], sam["flops_ratio"]
        lines += ["| | SAM ViT-B (1024 x 1024) | MedP-CLIP | ratio |", "|---|---|---|---|",
                  f"| encoder / trunk per new slice, GFLOPs | {f['sam_encoder_gflops']} | {f['ours_trunk_gflops']} | {fr['encoder']}x |",
                  f"| one click, GFLOPs | {f['sam_click_gflops']} | {f['ours_click_gflops']} | {fr['click']}x |"]
        if "time_ms" in sam:
            t, tr = sam["time_ms"], sam["time_ratio"]
            lines += [f"| encoder / trunk per new slice, ms | {t['sam_encoder_ms_median']} | {t['ours_trunk_ms_median']} | {tr['encoder']}x |",
                      f"| one click, ms | {t['sam_click_ms_median']} | {t['ours_click_ms_median']} | {tr['click']}x |"]
        lines += ["", f"Headline ratio: **{sam['ratio']}x** ({sam['ratio_basis']}); {sam['threads']} threads.", ""]
    else:
        lines += [f"Not measured: {sam.get('reason')}", ""]
    lines += ["## Per structure (2D, first prompt: click; mean over held-out slices)", "",
              "| case | structure | slices | px | " + " | ".join(f"{m} Dice@1 | {m} Dice@{ks[-1]}" for m in results["methods"])
              + " | Top-1 |", "|---|---|---|---|" + "---|" * (2 * len(results["methods"]) + 1)]
    first = p["first_prompts"][0]
    for row in results["per_structure"]:
        if "slices" not in row:
            continue
        cells = []
        for m in results["methods"]:
            s = row["methods"].get(m, {}).get(first, {})
            cells += [fmt(s.get("dice@1"), 2), fmt(s.get(f"dice@{ks[-1]}"), 2)]
        top1 = row["methods"].get("medpclip", {}).get(first, {}).get("top1")
        lines.append(f"| {row['case']} | {row['label']} | {row['slices']} | {row['pixels_mean']:.0f} | "
                     + " | ".join(cells) + f" | {fmt(top1, 2)} |")
    lines += plots_section(results)
    return "\n".join(lines) + "\n"


def plots_section(results: dict[str, Any]) -> list[str]:
    """results.md's closing lines: the plots written, as images."""
    plots = results.get("outputs", {}).get("plots", [])
    return ["", "## Plots", ""] + [f"![{x}]({x})" for x in plots] if plots else []

"""Per-structure differences between two patient-level benchmark results (``medpclip benchmark`` results.json).

    .venv/bin/python scripts/compare_benchmarks.py BASE.json CANDIDATE.json

For MedP-CLIP, per (dataset, structure, first prompt): mean Dice after 1 / 3 / 5 interactions in BASE -> CANDIDATE
(one-click 3D: the volume Dice), then the six worst changes. Issue 12's rule reads off it: no structure type may
get worse than the shipped checkpoint by more than 0.05.

Then, per (dataset, first prompt), the paired change of the mean Dice after 1 / 3 / 5 interactions over the items
both runs answered, with a 95 % interval from resampling those items (2000 draws, seeded). The interval is what
the choice of items alone could move a figure by; two seeds of one training recipe differ by more than that
(docs/RESULTS.md, session 46), so an interval clear of zero is necessary, not sufficient, for a finding.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def load(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def structure_dice(data: dict) -> dict[tuple[str, str, str], np.ndarray]:
    """(dataset, structure, 'click' | 'box' | '3d') -> (items, interactions) Dice of MedP-CLIP."""
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for t in data["trials_2d"]:
        if t["method"] == "medpclip":
            groups[(t["dataset"], t["label"], t["first"])].append(t["dice"])
    for t in data["trials_3d_one_click"]:
        groups[(t["dataset"], t["label"], "3d")].append([t["dice"]])
    return {k: np.asarray(v, dtype=float) for k, v in groups.items()}


def paired_items(data: dict) -> dict[tuple[str, int, str, str], tuple[str, list[float]]]:
    """(case, slice, label, first) -> (dataset, Dice per interaction) of MedP-CLIP's 2D items."""
    return {(t["case"], t["slice"], t["label"], t["first"]): (t["dataset"], t["dice"])
            for t in data["trials_2d"] if t["method"] == "medpclip"}


def paired_changes(base_data: dict, cand_data: dict, draws: int = 2000,
                   seed: int = 0) -> list[tuple[str, str, int, list[tuple[float, float, float, float, float]]]]:
    """Per (dataset, first prompt): the items both runs answered, and per interaction 1 / 3 / 5 (where present) the
    base mean, the candidate mean, their paired difference and its 95 % item-bootstrap interval."""
    base, cand = paired_items(base_data), paired_items(cand_data)
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for key in sorted(set(base) & set(cand)):
        groups[(base[key][0], key[3])].append(key)
    out = []
    for (dataset, first), keys in sorted(groups.items()):
        width = min(min(len(base[k][1]), len(cand[k][1])) for k in keys)
        b = np.array([base[k][1][:width] for k in keys], dtype=float)
        c = np.array([cand[k][1][:width] for k in keys], dtype=float)
        picks = rng.integers(0, len(keys), (draws, len(keys)))
        cells = []
        for i in (i for i in (0, 2, 4) if i < width):
            diff = c[:, i] - b[:, i]
            boot = diff[picks].mean(1)
            cells.append((b[:, i].mean(), c[:, i].mean(), diff.mean(), *np.percentile(boot, [2.5, 97.5])))
        out.append((dataset, first, len(keys), cells))
    return out


def compare(base_data: dict, cand_data: dict) -> list[tuple[float, tuple[str, str, str], int, list[str]]]:
    base, cand = structure_dice(base_data), structure_dice(cand_data)
    rows = []
    for key in sorted(set(base) & set(cand)):
        b, c = base[key], cand[key]
        cols = [i for i in (0, 2, 4) if i < min(b.shape[1], c.shape[1])]
        pairs = [(b[:, i].mean(), c[:, i].mean()) for i in cols]
        rows.append((min(y - x for x, y in pairs), key, len(b), [f"{x:.3f}->{y:.3f}({y - x:+.3f})" for x, y in pairs]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("candidate")
    args = ap.parse_args()
    base, cand = load(args.base), load(args.candidate)  # each file read once (a run's trials can be MBs)
    rows = compare(base, cand)
    for _, (dataset, label, first), n, cells in rows:
        print(f"{dataset:6s} {label[:28]:28s} {first:5s} n={n:3d} " + " ".join(cells))
    print("worst:", [(round(w, 3), key, n) for w, key, n, _ in sorted(rows)[:6]])
    for dataset, first, n, cells in paired_changes(base, cand):
        print(f"paired {dataset:6s} {first:5s} n={n:3d} " + " ".join(
            f"{x:.3f}->{y:.3f}({d:+.3f}, 95% {lo:+.3f}..{hi:+.3f})" for x, y, d, lo, hi in cells))


if __name__ == "__main__":
    main()

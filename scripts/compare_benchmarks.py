"""Per-structure differences between two patient-level benchmark results (``medpclip benchmark`` results.json).

    .venv/bin/python scripts/compare_benchmarks.py BASE.json CANDIDATE.json

For MedP-CLIP, per (dataset, structure, first prompt): mean Dice after 1 / 3 / 5 interactions in BASE -> CANDIDATE
(one-click 3D: the volume Dice), then the six worst changes. Issue 12's rule reads off it: no structure type may
get worse than the shipped checkpoint by more than 0.05.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def structure_dice(path: str) -> dict[tuple[str, str, str], np.ndarray]:
    """(dataset, structure, 'click' | 'box' | '3d') -> (items, interactions) Dice of MedP-CLIP."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for t in data["trials_2d"]:
        if t["method"] == "medpclip":
            groups[(t["dataset"], t["label"], t["first"])].append(t["dice"])
    for t in data["trials_3d_one_click"]:
        groups[(t["dataset"], t["label"], "3d")].append([t["dice"]])
    return {k: np.asarray(v, dtype=float) for k, v in groups.items()}


def compare(base_path: str, cand_path: str) -> list[tuple[float, tuple[str, str, str], int, list[str]]]:
    base, cand = structure_dice(base_path), structure_dice(cand_path)
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
    rows = compare(args.base, args.candidate)
    for _, (dataset, label, first), n, cells in rows:
        print(f"{dataset:6s} {label[:28]:28s} {first:5s} n={n:3d} " + " ".join(cells))
    print("worst:", [(round(w, 3), key, n) for w, key, n, _ in sorted(rows)[:6]])


if __name__ == "__main__":
    main()

"""Summarise named_click.py's JSON lines: Dice@1 of the engine's pick (answer 0), of the answer the name fits best
(among the full vocabulary, and among the case's names), with a margin in log-probability before the pick is
overruled, and of the best answer (oracle). Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/named_click_summary.py FILE.jsonl
"""
import collections
import json
import sys

import numpy as np

rows = [json.loads(line) for line in open(sys.argv[1])]
by_ds = collections.defaultdict(list)
for r in rows:
    by_ds[r["dataset"]].append(r)


def chosen(r, key, margin):
    logp = np.log(np.maximum(r[key], 1e-12))
    best = int(np.argmax(logp))
    return best if logp[best] - logp[0] > margin else 0


cols = [("pick", lambda r: r["dice"][0]), ("oracle", lambda r: max(r["dice"]))]
for key in ("p_vocab", "p_case", "p_mask"):
    if key not in rows[0]:
        continue
    for m in (0.0, 0.5, 1.0, 2.0):
        cols.append((f"{key} m{m}", lambda r, key=key, m=m: r["dice"][chosen(r, key, m)]))
print("dataset | n | " + " | ".join(c for c, _ in cols))
avgs = []
for ds, rs in sorted(by_ds.items()):
    v = [np.mean([f(r) for r in rs]) for _, f in cols]
    avgs.append(v)
    print(f"{ds} | {len(rs)} | " + " | ".join(f"{x:.3f}" for x in v))
print("dataset average | | " + " | ".join(f"{x:.3f}" for x in np.mean(avgs, 0)))

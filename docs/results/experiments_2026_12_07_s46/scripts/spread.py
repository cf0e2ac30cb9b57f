"""How far apart two held-out benchmark runs can lie by chance: per dataset, click Dice@1 / @5 of each run, the
patient-cluster bootstrap 95 % interval of the default's figure (whole patients resampled, 2000 draws), and the
paired difference of each run against the default with its item-bootstrap interval. Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s46/scripts/spread.py BASE.json NAME=RUN.json ...
"""
import json
import sys

import numpy as np


def click_items(path):
    d = json.load(open(path))
    return {(t["case"], t["slice"], t["label"]): (t["dataset"], t["patient"], t["dice"][0], t["dice"][4])
            for t in d["trials_2d"] if t["method"] == "medpclip" and t["first"] == "click"}


def main():
    rng = np.random.default_rng(0)
    base = click_items(sys.argv[1])
    runs = [(a.split("=", 1)[0], click_items(a.split("=", 1)[1])) for a in sys.argv[2:]]
    for ds in sorted({v[0] for v in base.values()}):
        keys = sorted(k for k, v in base.items() if v[0] == ds)
        patients = sorted({base[k][1] for k in keys})
        b1 = np.array([base[k][2] for k in keys])
        b5 = np.array([base[k][3] for k in keys])
        print(f"{ds}: {len(keys)} items, {len(patients)} patients; default Dice@1 {b1.mean():.3f} @5 {b5.mean():.3f}")
        if len(patients) > 1:
            by_p = {p: [i for i, k in enumerate(keys) if base[k][1] == p] for p in patients}
            draws = [b1[np.concatenate([by_p[p] for p in rng.choice(patients, len(patients))])].mean()
                     for _ in range(2000)]
            print(f"  default Dice@1, patients resampled: 95 % {np.percentile(draws, 2.5):.3f}-"
                  f"{np.percentile(draws, 97.5):.3f}")
        for name, run in runs:
            c1 = np.array([run[k][2] for k in keys])
            c5 = np.array([run[k][3] for k in keys])
            diff = c1 - b1
            boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
            print(f"  {name:8s} Dice@1 {c1.mean():.3f} ({diff.mean():+.3f}, items resampled 95 % "
                  f"{np.percentile(boot, 2.5):+.3f}..{np.percentile(boot, 97.5):+.3f}), Dice@5 {c5.mean():.3f} "
                  f"({(c5 - b5).mean():+.3f})")


if __name__ == "__main__":
    main()

"""Fit the click choice head (model/click_choice.py) on recorded first clicks and write it into a checkpoint.

    .venv/bin/python scripts/fit_click_selector.py TRAIN.npz [--validate HELDOUT.npz] [--features scores|token]
        [--l2 0.01] [--base CKPT] [--out CKPT]

TRAIN / HELDOUT come from ``scripts/record_first_clicks.py`` (training patients' and held-out patients' clicks).
The head scores the multimask outputs linearly; it is fitted to maximise the Dice of the output it picks (a soft
choice, temperature ``TEMPERATURE``, each dataset weighted equally, L2 on the weights), standardised features.
``--features scores`` uses only the candidates' predicted IoUs and areas (12 weights per output), ``token`` the
IoU token's state too. Printed: Dice of the pick per dataset in 5-fold cross-validation over the training
patients, and on ``--validate`` (report only, never fitted on). With ``--out`` the fitted head is written into a
copy of ``--base`` (default: the bundled checkpoint) with its provenance under ``click_choice``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from medpclip.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from medpclip.model.click_choice import choice_features

TEMPERATURE = 0.05
log = logging.getLogger("fit_click_selector")


def features(rec: dict[str, np.ndarray], kind: str) -> np.ndarray:
    x = choice_features(torch.tensor(rec["token"]), torch.tensor(rec["iou"]), torch.tensor(rec["area"])).numpy()
    if kind == "scores":
        x[:, : rec["token"].shape[1]] = 0.0  # those columns get zero weight below
    return x


def dataset_weights(datasets: np.ndarray) -> np.ndarray:
    w = np.zeros(len(datasets))
    for name in np.unique(datasets):
        w[datasets == name] = 1.0 / (datasets == name).sum()
    return w / w.sum()


def fit(x: np.ndarray, dice: np.ndarray, datasets: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """-> (W (M, F), b (M,)) on raw features (the standardisation folded in)."""
    mu, sd = x.mean(0), x.std(0)
    used = sd > 1e-8
    sd = np.where(used, sd, 1.0)
    xt = torch.tensor((x - mu) / sd, dtype=torch.float32)
    dt = torch.tensor(dice, dtype=torch.float32)
    wt = torch.tensor(dataset_weights(datasets), dtype=torch.float32)
    lin = torch.nn.Linear(x.shape[1], dice.shape[1])
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    mask = torch.tensor(used, dtype=torch.float32)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        p = torch.softmax((xt @ (lin.weight * mask).T + lin.bias) / TEMPERATURE, dim=1)
        loss = -(wt * (p * dt).sum(1)).sum() + l2 * (lin.weight * mask).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w = (lin.weight * mask).detach().numpy() / sd
    return w, lin.bias.detach().numpy() - w @ mu


def picks(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.argmax(x @ w.T + b, axis=1)


def summary(rec: dict[str, np.ndarray], choice: np.ndarray) -> dict[str, dict[str, float]]:
    """Per dataset: Dice of the pick, of the engine's own answer, of the best output (oracle)."""
    got = rec["dice"][np.arange(len(choice)), choice]
    out = {}
    for name in np.unique(rec["dataset"]):
        m = rec["dataset"] == name
        out[str(name)] = {"n": int(m.sum()), "picked": round(float(got[m].mean()), 3),
                          "engine": round(float(rec["default_dice"][m].mean()), 3),
                          "oracle": round(float(rec["dice"][m].max(1).mean()), 3)}
    return out


def structure_changes(rec: dict[str, np.ndarray], choice: np.ndarray, min_n: int = 4) -> list[tuple]:
    """(dataset, structure, n, engine's Dice, picked Dice), worst change first."""
    got = rec["dice"][np.arange(len(choice)), choice]
    rows = []
    for name in np.unique(rec["dataset"]):
        for label in np.unique(rec["label"][rec["dataset"] == name]):
            m = (rec["dataset"] == name) & (rec["label"] == label)
            if m.sum() >= min_n:
                rows.append((str(name), str(label), int(m.sum()), round(float(rec["default_dice"][m].mean()), 3),
                             round(float(got[m].mean()), 3)))
    return sorted(rows, key=lambda r: r[4] - r[3])


def cross_validated(rec: dict[str, np.ndarray], x: np.ndarray, l2: float, folds: int = 5) -> np.ndarray:
    patients = np.random.default_rng(0).permutation(np.unique(rec["patient"]))
    choice = np.zeros(len(x), int)
    for part in np.array_split(patients, folds):
        m = np.isin(rec["patient"], part)
        w, b = fit(x[~m], rec["dice"][~m], rec["dataset"][~m], l2)
        choice[m] = picks(w, b, x[m])
    return choice


def with_head(base: Checkpoint, w: np.ndarray, b: np.ndarray, provenance: dict) -> Checkpoint:
    model = copy.deepcopy(base.model)
    with torch.no_grad():
        model.click_choice.proj.weight.copy_(torch.tensor(w, dtype=torch.float32))
        model.click_choice.proj.bias.copy_(torch.tensor(b, dtype=torch.float32))
    prov = copy.deepcopy(base.provenance)
    prov["click_choice"] = provenance
    return Checkpoint(model, base.vocabulary, base.text_features, prov, base.metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("--validate")
    ap.add_argument("--features", choices=("scores", "token"), default="scores")
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train = dict(np.load(args.train))
    x = features(train, args.features)
    report = {"cv_train_patients": summary(train, cross_validated(train, x, args.l2))}
    w, b = fit(x, train["dice"], train["dataset"], args.l2)
    if args.validate:
        val = dict(np.load(args.validate))
        choice = picks(w, b, features(val, args.features))
        report["validate"] = summary(val, choice)
        for kind in np.unique(val["click_kind"]):
            m = val["click_kind"] == kind
            report[f"validate_{kind}"] = summary({k: v[m] for k, v in val.items()}, choice[m])
        report["validate_worst_structures"] = structure_changes(val, choice)[:6]
    for key, value in report.items():
        log.info("%s: %s", key, value)
    if args.out:
        base = load_checkpoint(args.base)
        sha = hashlib.sha256(Path(args.train).read_bytes()).hexdigest()
        prov = {"command": " ".join(["scripts/fit_click_selector.py", *sys.argv[1:]]), "train": args.train,
                "train_sha256": sha, "clicks": int(len(x)), "features": args.features, "l2": args.l2,
                "temperature": TEMPERATURE, **report}
        log.info("wrote %s", save_checkpoint(with_head(base, w, b, prov), args.out))


if __name__ == "__main__":
    main()

"""Fit the click choice head (model/click_choice.py) on recorded first clicks and write it into a checkpoint.

    .venv/bin/python scripts/fit_click_selector.py TRAIN.npz [--validate HELDOUT.npz] [--features scores|token]
        [--l2 0.01] [--floor 0] [--margin 0] [--require-cv-gain] [--base CKPT] [--out CKPT]

TRAIN / HELDOUT come from ``scripts/record_first_clicks.py`` (training patients' and held-out patients' clicks).
The head scores the multimask outputs linearly; it is fitted to maximise the Dice of the output it picks (a soft
choice, temperature ``TEMPERATURE``, each dataset weighted equally, L2 on the weights), standardised features.
``--features scores`` uses only the candidates' predicted IoUs and areas (12 weights per output), ``token`` the
IoU token's state too. Printed: Dice of the pick per dataset in 5-fold cross-validation over the training
patients, and on ``--validate`` (report only, never fitted on). ``--margin`` is the head's margin (how much
higher it must score another output than the IoU head's pick to override it; applied to every report and written
into the head). With ``--out`` the fitted head is written into a
copy of ``--base`` (default: the bundled checkpoint) with its provenance under ``click_choice``.
``--require-cv-gain``: write nothing and exit 2, with one line, unless the cross-validated pick beats the IoU
head's (the engine's answer) dataset-averaged: on three fine-tunes of 2026-12-05 a head fitted against its own
cross-validation cost held-out first clicks 0.03-0.04 (docs/RESULTS.md, session 33).
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
from medpclip.model.click_choice import ClickChoiceHead, choice_features

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


def structure_groups(datasets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(S, N) 0/1 rows: which clicks belong to each (dataset, structure)."""
    keys = np.char.add(np.char.add(datasets.astype(str), "/"), labels.astype(str))
    return np.stack([keys == k for k in np.unique(keys)]).astype(np.float32)


def fit(x: np.ndarray, dice: np.ndarray, datasets: np.ndarray, l2: float, default: np.ndarray | None = None,
        labels: np.ndarray | None = None, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """-> (W (M, F), b (M,)) on raw features (the standardisation folded in).

    ``floor`` > 0 adds ``floor * sum_s relu(engine_s - pick_s)^2`` over the (dataset, structure) groups of the
    training clicks: a structure whose mean Dice falls below the engine's own answer costs quadratically, so the
    head learns to leave alone the structures it cannot help (issue 12: no structure may lose more than 0.05)."""
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
    if floor > 0:
        groups = torch.tensor(structure_groups(datasets, labels))
        counts = groups.sum(1)
        engine_mean = groups @ torch.tensor(default, dtype=torch.float32) / counts
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        p = torch.softmax((xt @ (lin.weight * mask).T + lin.bias) / TEMPERATURE, dim=1)
        picked = (p * dt).sum(1)
        loss = -(wt * picked).sum() + l2 * (lin.weight * mask).pow(2).sum()
        if floor > 0:
            loss = loss + floor * torch.relu(engine_mean - groups @ picked / counts).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w = (lin.weight * mask).detach().numpy() / sd
    return w, lin.bias.detach().numpy() - w @ mu


def picks(w: np.ndarray, b: np.ndarray, x: np.ndarray, iou: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """The head's pick per click (0-based multimask output), as ``ClickChoiceHead`` scores them: the IoU head's
    own pick raised by ``margin``."""
    head = ClickChoiceHead(x.shape[1] - 4 * w.shape[0], w.shape[0]).double()
    with torch.no_grad():
        head.proj.weight.copy_(torch.from_numpy(w))
        head.proj.bias.copy_(torch.from_numpy(b))
        head.margin.fill_(margin)
        return head.scores(torch.from_numpy(x).double(), torch.from_numpy(iou)).argmax(1).numpy()


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


def fit_on(rec: dict[str, np.ndarray], x: np.ndarray, l2: float, floor: float,
           m: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    m = np.ones(len(x), bool) if m is None else m
    return fit(x[m], rec["dice"][m], rec["dataset"][m], l2, rec["default_dice"][m], rec["label"][m], floor)


def cross_validated(rec: dict[str, np.ndarray], x: np.ndarray, l2: float, floor: float, margin: float,
                    folds: int = 5) -> np.ndarray | None:
    """Each click's pick by a head fitted on the other patients' clicks; None with fewer than two patients."""
    patients = np.random.default_rng(0).permutation(np.unique(rec["patient"]))
    if len(patients) < 2:
        return None
    choice = np.zeros(len(x), int)
    for part in np.array_split(patients, min(folds, len(patients))):
        m = np.isin(rec["patient"], part)
        w, b = fit_on(rec, x, l2, floor, ~m)
        choice[m] = picks(w, b, x[m], rec["iou"][m], margin)
    return choice


def cv_gain(cv: dict[str, dict[str, float]] | None) -> float | None:
    """Dataset-averaged Dice of the cross-validated pick minus the engine's own answer's (None without a
    cross-validation)."""
    if not cv:
        return None
    return float(np.mean([d["picked"] - d["engine"] for d in cv.values()]))


def with_head(base: Checkpoint, w: np.ndarray, b: np.ndarray, margin: float, provenance: dict) -> Checkpoint:
    model = copy.deepcopy(base.model)
    with torch.no_grad():
        model.click_choice.proj.weight.copy_(torch.tensor(w, dtype=torch.float32))
        model.click_choice.proj.bias.copy_(torch.tensor(b, dtype=torch.float32))
        model.click_choice.margin.fill_(margin)
    prov = copy.deepcopy(base.provenance)
    prov["click_choice"] = provenance
    return Checkpoint(model, base.vocabulary, base.text_features, prov, base.metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("--validate")
    ap.add_argument("--features", choices=("scores", "token"), default="scores")
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--floor", type=float, default=0.0,
                    help="weight of the per-structure penalty for falling below the engine's answer (0: none)")
    ap.add_argument("--margin", type=float, default=0.0,
                    help="how much higher the head must score another output than the IoU head's pick (0: none)")
    ap.add_argument("--require-cv-gain", action="store_true",
                    help="write nothing (exit 2) unless the patient cross-validation gains over the IoU head's pick")
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train = dict(np.load(args.train))
    x = features(train, args.features)
    cv_choice = cross_validated(train, x, args.l2, args.floor, args.margin)
    if cv_choice is None:
        log.warning("one training patient: no cross-validation across patients")
        report = {"cv_train_patients": None}
    else:
        report = {"cv_train_patients": summary(train, cv_choice),
                  "cv_worst_structures": structure_changes(train, cv_choice)[:6]}
    w, b = fit_on(train, x, args.l2, args.floor)
    if args.validate:
        val = dict(np.load(args.validate))
        choice = picks(w, b, features(val, args.features), val["iou"], args.margin)
        report["validate_switched"] = round(float(np.mean(choice != np.argmax(val["iou"][:, 1:], axis=1))), 3)
        report["validate"] = summary(val, choice)
        for kind in np.unique(val["click_kind"]):
            m = val["click_kind"] == kind
            report[f"validate_{kind}"] = summary({k: v[m] for k, v in val.items()}, choice[m])
        report["validate_worst_structures"] = structure_changes(val, choice)[:6]
    for key, value in report.items():
        log.info("%s: %s", key, value)
    gain = cv_gain(report["cv_train_patients"])
    if args.require_cv_gain and (gain is None or gain <= 0):
        why = ("needs clicks of two or more training patients to cross-validate" if gain is None
               else f"its patient cross-validation picks worse than the IoU head ({gain:+.3f} Dice, dataset-averaged)")
        log.error("fit_click_selector: no head written: %s", why)
        sys.exit(2)
    if args.out:
        base = load_checkpoint(args.base)
        sha = hashlib.sha256(Path(args.train).read_bytes()).hexdigest()
        prov = {"command": " ".join(["scripts/fit_click_selector.py", *sys.argv[1:]]), "train": args.train,
                "train_sha256": sha, "clicks": int(len(x)), "features": args.features, "l2": args.l2,
                "floor": args.floor, "margin": args.margin, "temperature": TEMPERATURE, **report}
        log.info("wrote %s", save_checkpoint(with_head(base, w, b, args.margin, prov), args.out))


if __name__ == "__main__":
    main()

"""Fit the click choice head (model/click_choice.py) on recorded first clicks and write it into a checkpoint.

    .venv/bin/python scripts/fit_click_selector.py TRAIN.npz [--validate HELDOUT.npz] [--features scores|token]
        [--l2 0.01] [--floor 0] [--margin 0 | --margin 0,0.4,0.8] [--require-cv-gain] [--base CKPT] [--out CKPT]

TRAIN / HELDOUT come from ``scripts/record_first_clicks.py`` (training patients' and held-out patients' clicks).
The head scores the multimask outputs linearly; it is fitted to maximise the Dice of the output it picks (a soft
choice, temperature ``TEMPERATURE``, each dataset weighted equally, L2 on the weights), standardised features.
``--features scores`` uses only the candidates' predicted IoUs and areas (12 weights per output), ``token`` the
IoU token's state too. Printed: Dice of the pick per dataset in 5-fold cross-validation over the training
patients, and on ``--validate`` (report only, never fitted on). ``--margin`` is the head's margin (how much
higher it must score another output than the IoU head's pick to override it; applied to every report and written
into the head). Given several (comma-separated), the patient cross-validation chooses: from the largest down, a
smaller margin replaces the current choice only where its cross-validated pick scores better with a 95 %
patient-bootstrap interval clear of zero (``choose_margin``): a margin suits one checkpoint, not a recipe
(docs/RESULTS.md, session 49). With ``--out`` the fitted head is written into a copy of ``--base`` (default:
the bundled checkpoint): the head of the view the clicks were recorded in (``HEADS``: ``click_choice`` for the
body's view, ``click_view_choice`` for the click's own view), its provenance under that name.
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


def fold_fits(rec: dict[str, np.ndarray], x: np.ndarray, l2: float, floor: float,
              folds: int = 5) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """Per patient fold: (its clicks, W, b of a head fitted on the other patients' clicks); None with fewer than two
    patients. The fit does not depend on the margin, so one set of folds serves every margin."""
    patients = np.random.default_rng(0).permutation(np.unique(rec["patient"]))
    if len(patients) < 2:
        return None
    out = []
    for part in np.array_split(patients, min(folds, len(patients))):
        m = np.isin(rec["patient"], part)
        out.append((m, *fit_on(rec, x, l2, floor, ~m)))
    return out


def cross_validated(rec: dict[str, np.ndarray], x: np.ndarray, l2: float, floor: float, margin: float,
                    folds: int = 5, fits: list | None = None) -> np.ndarray | None:
    """Each click's pick by a head fitted on the other patients' clicks (``fits`` from ``fold_fits``, else fitted
    here); None with fewer than two patients."""
    fits = fits if fits is not None else fold_fits(rec, x, l2, floor, folds)
    if fits is None:
        return None
    choice = np.zeros(len(x), int)
    for m, w, b in fits:
        choice[m] = picks(w, b, x[m], rec["iou"][m], margin)
    return choice


def cv_gain(cv: dict[str, dict[str, float]] | None) -> float | None:
    """Dataset-averaged Dice of the cross-validated pick minus the engine's own answer's (None without a
    cross-validation)."""
    if not cv:
        return None
    return float(np.mean([d["picked"] - d["engine"] for d in cv.values()]))


HEADS = {"body": "click_choice", "click": "click_view_choice"}  # recorded view -> the head asked in that view


def recorded_view(rec: dict[str, np.ndarray]) -> str:
    """The view the clicks were recorded in (record_first_clicks.py --view); a clear error for older records."""
    views = set(rec["view"].tolist()) if "view" in rec else set()
    if len(views) != 1 or not views <= set(HEADS):
        raise SystemExit("fit_click_selector: these clicks do not say which view they were recorded in (recorded "
                         "before session 49, or mixed): record them again with record_first_clicks.py --view")
    return views.pop()


def with_head(base: Checkpoint, w: np.ndarray, b: np.ndarray, margin: float, provenance: dict,
              view: str = "body") -> Checkpoint:
    """A copy of ``base`` with the head of ``view`` (``HEADS``) set; every other tensor unchanged."""
    model = copy.deepcopy(base.model)
    head = getattr(model, HEADS[view])
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor(w, dtype=torch.float32))
        head.proj.bias.copy_(torch.tensor(b, dtype=torch.float32))
        head.margin.fill_(margin)
    prov = copy.deepcopy(base.provenance)
    prov[HEADS[view]] = provenance
    return Checkpoint(model, base.vocabulary, base.text_features, prov, base.metrics)


def parse_margins(text: str) -> list[float]:
    """'0.8' or '0,0.4,0.8' -> sorted non-negative margins; a clear error otherwise."""
    try:
        margins = sorted({float(m) for m in text.split(",") if m.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--margin takes numbers separated by commas, got {text!r}") from None
    if not margins or margins[0] < 0 or not all(np.isfinite(margins)):
        raise argparse.ArgumentTypeError(f"--margin takes finite numbers >= 0, got {text!r}")
    return margins


def patient_bootstrap_low(rec: dict[str, np.ndarray], gain: np.ndarray, draws: int = 2000, seed: int = 0) -> float:
    """The 2.5 % point of the dataset-averaged mean of a per-click ``gain``, resampling whole patients within each
    dataset (clicks of one patient are not independent)."""
    rng = np.random.default_rng(seed)
    means = np.zeros(draws)
    datasets = np.unique(rec["dataset"])
    for name in datasets:
        m = rec["dataset"] == name
        patients = np.unique(rec["patient"][m])
        sums = np.array([gain[m & (rec["patient"] == p)].sum() for p in patients])
        counts = np.array([(m & (rec["patient"] == p)).sum() for p in patients])
        pick = rng.integers(0, len(patients), (draws, len(patients)))
        means += sums[pick].sum(1) / counts[pick].sum(1)
    return float(np.quantile(means / len(datasets), 0.025))


def choose_margin(rec: dict[str, np.ndarray], x: np.ndarray, l2: float, floor: float, margins: list[float],
                  fits: list | None = None) -> tuple[float, dict[float, float | None]]:
    """Start from the largest margin (the IoU head overruled least) and step to a smaller one only where its
    patient-cross-validated pick beats the current choice's with a 95 % patient-bootstrap interval clear of zero.
    With one margin, or too few patients to cross-validate, the largest given.
    -> (margin, {margin: cross-validated dataset-averaged Dice, or None})."""
    fits = fits if fits is not None else fold_fits(rec, x, l2, floor)
    got: dict[float, np.ndarray | None] = {}
    scores: dict[float, float | None] = {}
    for margin in margins:
        choice = cross_validated(rec, x, l2, floor, margin, fits=fits)
        got[margin] = None if choice is None else rec["dice"][np.arange(len(choice)), choice]
        scores[margin] = None if choice is None else float(np.mean([d["picked"] for d in summary(rec, choice).values()]))
    best = max(margins)
    if got[best] is None:
        return best, scores
    for margin in sorted(margins, reverse=True)[1:]:
        if patient_bootstrap_low(rec, got[margin] - got[best]) > 0:
            best = margin
    return best, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("--validate")
    ap.add_argument("--features", choices=("scores", "token"), default="scores")
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--floor", type=float, default=0.0,
                    help="weight of the per-structure penalty for falling below the engine's answer (0: none)")
    ap.add_argument("--margin", type=parse_margins, default=[0.0],
                    help="how much higher the head must score another output than the IoU head's pick (0: none); "
                         "several, comma-separated: the patient cross-validation chooses")
    ap.add_argument("--require-cv-gain", action="store_true",
                    help="write nothing (exit 2) unless the patient cross-validation gains over the IoU head's pick")
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train = dict(np.load(args.train))
    view = recorded_view(train)
    x = features(train, args.features)
    fits = fold_fits(train, x, args.l2, args.floor)
    margin, margin_scores = choose_margin(train, x, args.l2, args.floor, args.margin, fits)
    if len(args.margin) > 1:
        log.info("margin chosen by patient cross-validation: %s (cross-validated Dice per margin: %s)", margin,
                 {m: None if v is None else round(v, 4) for m, v in margin_scores.items()})
    cv_choice = cross_validated(train, x, args.l2, args.floor, margin, fits=fits)
    if cv_choice is None:
        log.warning("one training patient: no cross-validation across patients")
        report = {"cv_train_patients": None}
    else:
        report = {"cv_train_patients": summary(train, cv_choice),
                  "cv_worst_structures": structure_changes(train, cv_choice)[:6]}
    w, b = fit_on(train, x, args.l2, args.floor)
    if args.validate:
        val = dict(np.load(args.validate))
        choice = picks(w, b, features(val, args.features), val["iou"], margin)
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
                "floor": args.floor, "margin": margin, "margins_tried": args.margin,
                "margin_cv_dice": {str(m): v for m, v in margin_scores.items()}, "temperature": TEMPERATURE, **report}
        log.info("wrote %s (head %s)", save_checkpoint(with_head(base, w, b, margin, prov, view), args.out),
                 HEADS[view])


if __name__ == "__main__":
    main()

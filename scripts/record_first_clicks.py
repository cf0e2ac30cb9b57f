"""Record what the engine's first click would give with each multimask output (issue 12, "First click").

For every 2D item of the chosen patients (a structure on an axial slice, as `medpclip benchmark` picks them) and
each first click (the deepest point of the structure, as the benchmark clicks, and ``--random-clicks`` more at
random inside it, as users click), the engine answers the click three times: one pass's answer forced to multimask
output 1, 2 and 3, everything else as the engine does it (the other view's pass, the checks between them, the
refining pass). ``--view`` says which pass: ``body``, the body's context view (the pass the checkpoint's
``click_choice`` head answers), or ``click``, the click's own view (``click_view_choice``; only where one applies,
so a brain MR, smaller than the view, gives no click-view records). Written per click: that pass's mask decoder
state (its IoU token, the predicted IoUs, the outputs' areas), its region embedding, the final Dice of each forced
answer and of the engine's own answer, and which view was recorded (``view``).
Until session 49 this script forced a new click's first pass whatever its view, and the head fitted on it was asked
in the body's view: on CT the records were of the click's view (docs/RESULTS.md, session 49).
``scripts/fit_click_selector.py`` learns from these which output to keep.

    .venv/bin/python scripts/record_first_clicks.py --data ../shared/training --patients BTCV_001,... \
        --view body|click --out runs/first_clicks_train.npz [--max-slices-per-case 6] [--random-clicks 1] \
        [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice, max_edt_point
from medpclip.engine import Engine
from medpclip.engine.session import Session
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import case_meta, dataset_name, patient_of, select_patients
from medpclip.evaluation.runners import engine_predictor
from medpclip.model.click_choice import candidate_areas

FULL_EXTENT = 1.0
log = logging.getLogger("record_first_clicks")


class ViewPassProbe:
    """Forces the first single-click pass of a segment call in one kind of view (the body's context view or any
    other) to one output and keeps that pass's decoder state."""

    def __init__(self, engine_model, session_type, body: bool) -> None:
        self.force, self.state, self.body = None, None, body
        self._batch: list[bool] = []  # per view of the running batch: is it the body's context view
        self._calls = self._batches = 0
        self._pending: dict = {}
        self._default = engine_model.answer_index
        engine_model.answer_index = self.answer_index  # the instance attribute shadows the method
        engine_model.mask_decoder.iou_head.register_forward_pre_hook(self._token)
        engine_model.mask_decoder.register_forward_hook(self._outputs)
        prompted = engine_model.prompted

        def prompted_and_kept(*args, **kwargs):
            out = prompted(*args, **kwargs)
            self._pending["region"] = out.region_embedding.float().clone()
            return out

        engine_model.prompted = prompted_and_kept
        predict_views = session_type.predict_views
        probe = self

        def predict_views_seen(session, plane, idx, points, windows, *args, **kwargs):
            # only a segment call's first batch holds a new click's first passes (later ones refine an answer)
            probe._batch = [w == session.context_window(plane) for w in windows] if not probe._batches else []
            probe._calls, probe._batches = 0, probe._batches + 1
            return predict_views(session, plane, idx, points, windows, *args, **kwargs)

        session_type.predict_views = predict_views_seen

    def arm(self, force: int | None) -> None:
        self.force, self.state, self._pending, self._batches = force, None, {}, 0

    def _token(self, _module, args) -> None:
        self._pending["token"] = args[0].float().clone()

    def _outputs(self, _module, _args, output) -> None:
        masks, iou = output[0], output[1]
        self._pending["iou"] = iou.float().clone()
        self._pending["area"] = candidate_areas(masks).float().clone()

    def answer_index(self, iou: torch.Tensor, single_click: bool, choice: torch.Tensor | None = None,
                     **box) -> int:
        n, self._calls = self._calls, self._calls + 1
        first_pass = n < len(self._batch)
        if (single_click and first_pass and self.force is not None and self.state is None
                and self._batch[n] == self.body):
            self.state = {k: v[n] for k, v in self._pending.items()}
            return self.force
        return self._default(iou, single_click, choice, **box)


def random_interior_click(target: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A random pixel of the structure at least a third of its deepest depth inside (not on its rim)."""
    from scipy import ndimage

    edt = ndimage.distance_transform_edt(target)
    rows, cols = np.nonzero(edt >= edt.max() / 3)
    i = int(rng.integers(len(rows)))
    return int(rows[i]), int(cols[i])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="comma-separated data roots")
    ap.add_argument("--patients", required=True, help="comma-separated patient ids (meta.json 'patient')")
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint")
    ap.add_argument("--max-slices-per-case", type=int, default=6)
    ap.add_argument("--min-pixels", type=int, default=20)
    ap.add_argument("--random-clicks", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--view", choices=("body", "click"), required=True,
                    help="the pass whose output is forced: the body's context view or the click's own view")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(args.seed)
    engine = Engine.from_checkpoint(args.checkpoint, threads=args.threads)
    probe = ViewPassProbe(engine.model, Session, args.view == "body")
    specs = select_patients(load_specs(args.data.split(","), walk=True), args.patients.split(","))
    rows: dict[str, list] = {k: [] for k in ("token", "region", "iou", "area", "dice", "default_dice", "case", "patient",
                                             "dataset", "label", "click_kind", "view")}
    for spec in tqdm(specs, desc="cases", unit="case"):
        case = load_case(spec)
        _, items2d, _ = case_items(case, FULL_EXTENT, args.min_pixels, None, args.max_slices_per_case)
        session = engine.open(case.image)
        meta = case_meta(spec)
        for item in items2d:
            target = extract_slice(case.canon_label, "axial", item.idx) == item.value
            clicks = [("deepest", max_edt_point(target))]
            clicks += [("random", random_interior_click(target, rng)) for _ in range(args.random_clicks)]
            for kind, (r, c) in clicks:
                predict = engine_predictor(session, item.idx)
                dices, state = [], None
                for k in (1, 2, 3):
                    probe.arm(k)
                    session.forget_feedback("axial", item.idx)
                    dices.append(dice(predict([(r, c, 1)], None), target))
                    state = state or probe.state
                probe.arm(None)
                session.forget_feedback("axial", item.idx)
                default = dice(predict([(r, c, 1)], None), target)
                if state is None:  # no such pass: no click view applies here (a brain MR), or none was asked
                    continue
                rows["token"].append(state["token"].numpy())
                rows["region"].append(state["region"].numpy())
                rows["iou"].append(state["iou"].numpy())
                rows["area"].append(state["area"].numpy())
                rows["dice"].append(dices)
                rows["default_dice"].append(default)
                rows["case"].append(spec.name)
                rows["patient"].append(patient_of(spec))
                rows["dataset"].append(dataset_name(spec.name, meta))
                rows["label"].append(spec.labels[item.value])
                rows["click_kind"].append(kind)
                rows["view"].append(args.view)
        session.close()
    out = {k: np.asarray(v) for k, v in rows.items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    d = out["dice"]
    if not len(d):
        log.error("record_first_clicks: no %s-view pass among these clicks (a click view applies only where the body "
                  "is larger than it)", args.view)
        sys.exit(2)
    log.info("%d passes: default %.3f, always 1/2/3 %s, oracle %.3f", len(d), out["default_dice"].mean(),
             np.round(d.mean(0), 3).tolist(), d.max(1).mean())


if __name__ == "__main__":
    sys.exit(main())

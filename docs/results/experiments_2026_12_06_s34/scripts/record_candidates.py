"""Record first clicks as scripts/record_first_clicks.py does, plus each click's context-pass candidate masks
(low-res logits of multimask outputs 1..M) and the context view's image pooled to the logits' grid, so that
image-based candidate features can be designed offline (session 34 experiment).

    .venv/bin/python docs/results/experiments_2026_12_06_s34/scripts/record_candidates.py --data ../shared/training \
        --patients ... --out runs/fcc_train.npz [--max-slices-per-case 8] [--random-clicks 1]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "scripts"))
from record_first_clicks import FULL_EXTENT, FirstPassProbe, random_interior_click  # noqa: E402

from medpclip.data.cases import load_case  # noqa: E402
from medpclip.data.geometry import extract_slice  # noqa: E402
from medpclip.data.masks import dice, max_edt_point  # noqa: E402
from medpclip.engine import Engine  # noqa: E402
from medpclip.evaluation.items import case_items, load_specs  # noqa: E402
from medpclip.evaluation.patients import case_meta, dataset_name, patient_of, select_patients  # noqa: E402

log = logging.getLogger("record_candidates")


class CandidateProbe(FirstPassProbe):
    def _outputs(self, module, args, output) -> None:
        super()._outputs(module, args, output)
        self._pending["masks"] = output[0][0, 1:].float().clone()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--patients", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint")
    ap.add_argument("--max-slices-per-case", type=int, default=8)
    ap.add_argument("--min-pixels", type=int, default=20)
    ap.add_argument("--random-clicks", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(args.seed)
    engine = Engine.from_checkpoint(args.checkpoint, threads=1)
    probe = CandidateProbe(engine.model)
    specs = select_patients(load_specs(args.data.split(","), walk=True), args.patients.split(","))
    keys = ("token", "region", "iou", "area", "masks", "view", "dice", "default_dice", "case", "patient", "dataset",
            "label", "click_kind", "modality")
    rows: dict[str, list] = {k: [] for k in keys}
    for spec in tqdm(specs, desc="cases", unit="case"):
        case = load_case(spec)
        _, items2d, _ = case_items(case, FULL_EXTENT, args.min_pixels, None, args.max_slices_per_case)
        session = engine.open(case.image)
        meta = case_meta(spec)
        grid = session.grid("axial", session.context_window("axial"))
        from medpclip.evaluation.runners import engine_predictor
        for item in items2d:
            target = extract_slice(case.canon_label, "axial", item.idx) == item.value
            img = grid.image_to_model(extract_slice(session.canon, "axial", item.idx))[None, None].float()
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
                probe.force = None
                session.forget_feedback("axial", item.idx)
                default = dice(predict([(r, c, 1)], None), target)
                if state is None:
                    continue
                h = state["masks"].shape[-1]
                view = F.adaptive_avg_pool2d(img, h)[0, 0]
                for key in ("token", "region", "iou", "area"):
                    rows[key].append(state[key].numpy())
                rows["masks"].append(state["masks"].numpy().astype(np.float16))
                rows["view"].append(view.numpy().astype(np.float16))
                rows["dice"].append(dices)
                rows["default_dice"].append(default)
                rows["case"].append(spec.name)
                rows["patient"].append(patient_of(spec))
                rows["dataset"].append(dataset_name(spec.name, meta))
                rows["label"].append(spec.labels[item.value])
                rows["click_kind"].append(kind)
                rows["modality"].append(str(case.image.modality))
        session.close()
    out = {k: np.asarray(v) for k, v in rows.items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    d = out["dice"]
    log.info("%d passes: default %.3f, always 1/2/3 %s, oracle %.3f", len(d), out["default_dice"].mean(),
             np.round(d.mean(0), 3).tolist(), d.max(1).mean())


if __name__ == "__main__":
    sys.exit(main())

"""Record the engine's answer to a tight box on each 2D item (as ``medpclip benchmark`` picks them), with the slice
image and the reference, so that box post-processings can be replayed offline (session 34 experiment).

    .venv/bin/python docs/results/experiments_2026_12_06_s34/scripts/record_boxes.py --data ../shared/training \
        --patients ... --out runs/boxes.npz [--max-slices-per-case 4]
"""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice, slice_pixel_spacing
from medpclip.data.masks import tight_box
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import case_meta, dataset_name, select_patients
from medpclip.evaluation.runners import engine_predictor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--patients", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-slices-per-case", type=int, default=4)
    args = ap.parse_args()
    engine = Engine.from_checkpoint(None, threads=1)
    specs = select_patients(load_specs(args.data.split(","), walk=True), args.patients.split(","))
    keep = {k: [] for k in ("image", "answer", "target", "box", "dataset", "structure", "spacing")}
    for spec in tqdm(specs):
        case = load_case(spec)
        _, items2d, _ = case_items(case, 1.0, 20, None, args.max_slices_per_case)
        session = engine.open(case.image)
        ds = dataset_name(spec.name, case_meta(spec))
        for item in items2d:
            target = extract_slice(case.canon_label, "axial", item.idx) == item.value
            box = tight_box(target)
            answer = engine_predictor(session, item.idx)([], box)
            keep["image"].append(extract_slice(session.canon, "axial", item.idx).astype(np.float16))
            keep["answer"].append(answer)
            keep["target"].append(target)
            keep["box"].append(box)
            keep["dataset"].append(ds)
            keep["structure"].append(spec.labels[item.value])
            keep["spacing"].append(slice_pixel_spacing(session.spacing, "axial"))
        session.close()
    np.savez_compressed(args.out, **{k: np.array(v, dtype=object) for k, v in keep.items()})


if __name__ == "__main__":
    main()

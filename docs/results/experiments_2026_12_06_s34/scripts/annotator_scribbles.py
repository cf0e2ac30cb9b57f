"""Annotator-style scribbles (session 34 experiment, issue 14): every structure on the slice and the background get
a stroke, as scribble-annotated datasets give them; the target's stroke is positive, all others negative, sent at
once as a strokes label map (``medpclip segment --scribbles``). MedP-CLIP, GrowCut with the same strokes, and
MedP-CLIP's answer refined by a seeded random walker / GrowCut that must respect the strokes.

    .venv/bin/python docs/results/experiments_2026_12_06_s34/scripts/annotator_scribbles.py --data ../shared/training \
        --patients BTCV_009,... --out runs/annot.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import json
import logging

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice
from medpclip.engine import Engine
from medpclip.evaluation.baselines import FG, BG, _fast_grow_cut
from medpclip.evaluation.items import load_specs, spaced_slices
from medpclip.evaluation.patients import case_meta, dataset_name, select_patients
from medpclip.evaluation.strokes import stroke_through

log = logging.getLogger("annotator_scribbles")


def draw(shape, path, width=1):
    m = np.zeros(shape, bool)
    for r, c in path:
        m[r, c] = True
    return ndimage.binary_dilation(m, iterations=width) if width else m


def background_arc(target, labelled, rng, near=(3, 7), span=np.pi):
    """An arc of the unlabelled ring ``near`` px outside the target, over a random half of the directions."""
    d = ndimage.distance_transform_edt(~target)
    ring = (d >= near[0]) & (d <= near[1]) & ~labelled
    rows, cols = np.nonzero(ring)
    if not len(rows):
        return np.zeros_like(target)
    cy, cx = np.argwhere(target).mean(0)
    ang = np.arctan2(rows - cy, cols - cx)
    a0 = rng.uniform(-np.pi, np.pi)
    keep = np.mod(ang - a0, 2 * np.pi) < span
    out = np.zeros_like(target)
    out[rows[keep], cols[keep]] = True
    # thin to a 1-2 px line: the ring's middle
    return out & (d <= near[0] + 1.5)


def annotator_map(lab2d, value, rng, width=1, span=np.pi):
    target = lab2d == value
    pos = stroke_through(target, 1, inset=2, share=0.8)
    smap = np.zeros(lab2d.shape, np.uint8)
    if pos is None:
        return None
    for v in np.unique(lab2d):
        if v in (0, value) or (lab2d == v).sum() < 30:
            continue
        s = stroke_through(lab2d == v, 0, inset=1, share=0.6)
        if s:
            smap[draw(lab2d.shape, s[0], width) & (lab2d == v)] = 2
    smap[background_arc(target, lab2d > 0, rng, span=span)] = 2
    smap[draw(lab2d.shape, pos[0], width) & target] = 1
    return smap


def growcut_seeded(image2d, seeds):
    pad = np.pad(seeds, 2)
    pad[1, :] = np.where(pad[1, :] == 0, BG, pad[1, :]); pad[-2, :] = np.where(pad[-2, :] == 0, BG, pad[-2, :])
    pad[:, 1] = np.where(pad[:, 1] == 0, BG, pad[:, 1]); pad[:, -2] = np.where(pad[:, -2] == 0, BG, pad[:, -2])
    img = np.pad(image2d.astype(np.float32), 2, constant_values=float(image2d.min()))
    lab = _fast_grow_cut(np.repeat(img[None], 3, 0), np.repeat(pad[None], 3, 0))[1]
    return (lab == FG)[2:-2, 2:-2]


def fused_seeds(mask, smap, band=3, reach=8):
    """Seeds from the model's answer and the strokes: the answer's inside (eroded by ``band``) is foreground and its
    outside (beyond ``band``) background, except within ``reach`` px of a stroke that disagrees with it; the strokes
    themselves are seeds."""
    pos, neg = smap == 1, smap == 2
    near_neg = ndimage.binary_dilation(neg & mask, iterations=reach)
    near_pos = ndimage.binary_dilation(pos & ~mask, iterations=reach)
    seeds = np.zeros(mask.shape, np.uint8)
    seeds[ndimage.binary_erosion(mask, iterations=band) & ~near_neg] = FG
    seeds[~ndimage.binary_dilation(mask, iterations=band) & ~near_pos] = BG
    seeds[neg] = BG
    seeds[pos] = FG
    return seeds


def random_walker_fused(image2d, seeds, beta=130):
    from skimage.segmentation import random_walker
    lab = np.where(seeds == FG, 1, np.where(seeds == BG, 2, 0))
    if not (lab == 0).any():
        return lab == 1
    img = image2d.astype(np.float64)
    img = (img - img.min()) / max(np.ptp(img), 1e-6)
    return random_walker(img, lab, beta=beta, mode="cg_j") == 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--patients", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint")
    ap.add_argument("--max-items", type=int, default=90)
    ap.add_argument("--width", type=int, default=1)
    ap.add_argument("--background-span", type=float, default=180.0,
                    help="degrees of the background arc around the target (360: all around, a thorough annotator)")
    ap.add_argument("--save-items", help="npz of every item's slice, strokes, answer and reference (offline sweeps)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(0)
    engine = Engine.from_checkpoint(args.checkpoint, threads=1)
    specs = select_patients(load_specs(args.data.split(","), walk=True), args.patients.split(","))
    rows, saved = [], {"image": [], "strokes": [], "answer": [], "target": []}
    for spec in tqdm(specs, unit="case"):
        if len(rows) >= args.max_items:
            break
        case = load_case(spec)
        ds = dataset_name(spec.name, case_meta(spec))
        session = engine.open(case.image)
        for idx in spaced_slices(list(range(case.canon_label.shape[0])), case.canon_label, 3):
            lab2d = extract_slice(case.canon_label, "axial", idx)
            img2d = extract_slice(case.canon_image, "axial", idx).astype(np.float32)
            for v in sorted(case.concepts, key=lambda v: -(lab2d == v).sum())[:4]:
                target = lab2d == v
                if target.sum() < 60 or len(rows) >= args.max_items:
                    continue
                smap = annotator_map(lab2d, v, rng, args.width, np.deg2rad(args.background_span))
                if smap is None:
                    continue
                vol = np.zeros(case.canon_label.shape, np.uint8)
                vol[idx] = smap
                res = session.segment({"mode": "2d"}, scribbles=session.orient.array_from_canonical(vol),
                                      feedback=False)
                med = np.asarray(session.orient.array_to_canonical(res.mask))[idx] > 0
                vol_pos = np.where(vol == 1, 1, 0).astype(np.uint8)
                res_pos = session.segment({"mode": "2d"}, scribbles=session.orient.array_from_canonical(vol_pos),
                                          feedback=False)
                pos_only = np.asarray(session.orient.array_to_canonical(res_pos.mask))[idx] > 0
                pr, pc = np.argwhere(smap == 1)[int((smap == 1).sum()) // 2]
                ijk = session.geometry.to_input_ijk(np.array([[pc, pr, idx]], float))[0].tolist()
                res_click = session.segment({"space": "ijk", "points": [ijk], "mode": "2d"}, feedback=False)
                click = np.asarray(session.orient.array_to_canonical(res_click.mask))[idx] > 0
                gc = growcut_seeded(img2d, np.where(smap == 1, FG, np.where(smap == 2, BG, 0)).astype(np.uint8))
                seeds = fused_seeds(med, smap)
                fused_gc = growcut_seeded(img2d, seeds)
                fused_rw = random_walker_fused(img2d, seeds)
                from stroke_refine import honour_strokes
                import time as _t
                t0 = _t.perf_counter()
                geo = honour_strokes(img2d, med, smap)
                geo_ms = (_t.perf_counter() - t0) * 1000
                hard = med.copy(); hard[smap == 1] = True; hard[smap == 2] = False
                if args.save_items:
                    for key, arr in (("image", img2d.astype(np.float16)), ("strokes", smap), ("answer", med),
                                     ("target", target)):
                        saved[key].append(arr)
                rows.append({"case": spec.name, "dataset": ds, "structure": case.concepts[v].id, "slice": int(idx),
                             "pixels": int(target.sum()), "medpclip": dice(med, target), "growcut": dice(gc, target),
                             "hard": dice(hard, target), "geodesic": dice(geo, target), "geo_ms": geo_ms, "pos_only": dice(pos_only, target), "click": dice(click, target), "fused_growcut": dice(fused_gc, target),
                             "fused_rw": dice(fused_rw, target),
                             "neg_in_answer": int(((smap == 2) & med).sum()), "pos_outside": int(((smap == 1) & ~med).sum())})
        session.close()
    if args.save_items:
        np.savez_compressed(args.save_items, **{k: np.array(v, dtype=object) for k, v in saved.items()},
                            dataset=np.array([r["dataset"] for r in rows]),
                            structure=np.array([r["structure"] for r in rows]))
    keys = ("geodesic", "medpclip", "growcut", "hard", "fused_growcut", "fused_rw", "pos_only", "click")
    summary = {}
    for ds in sorted({r["dataset"] for r in rows}):
        rr = [r for r in rows if r["dataset"] == ds]
        summary[ds] = {"n": len(rr), **{k: round(float(np.mean([r[k] for r in rr])), 4) for k in keys}}
    summary["average"] = {k: round(float(np.mean([summary[d][k] for d in summary])), 4) for k in keys}
    json.dump({"summary": summary, "rows": rows}, open(args.out, "w"), indent=1)
    for k, v in summary.items():
        log.info("%s %s", k, v)


if __name__ == "__main__":
    main()

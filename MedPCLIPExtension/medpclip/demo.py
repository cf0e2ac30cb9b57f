"""``medpclip demo``: the main job on the bundled sample CT and the default checkpoint.

A simulated user clicks a few structures of the sample CT (first click at the structure's deepest point on
its largest slice, then correction clicks, like DESIGN.md section 8), propagates each in 3D, asks the model
what each region is, runs one text search, and writes label maps, PNG overlays and a report.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from .model.checkpoint import REPO_ROOT

log = logging.getLogger(__name__)
SAMPLE_CASE = REPO_ROOT / "Resources" / "SampleData" / "totalseg_ct_abdomen"
DEMO_STRUCTURES = ("liver", "spleen", "kidney_left", "aorta")


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on the bundled sample CT (outputs in --out)")
    p.add_argument("--out", default="medpclip-demo", help="output folder (default: ./medpclip-demo)")
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--clicks", type=int, default=3, help="clicks per structure (1 + corrections)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_demo)


def run_demo(args) -> int:
    from tqdm import tqdm

    from .data.volume import read_label
    from .engine import Engine
    from .engine.outputs import save_overlay, write_mask
    from .evaluation.clicks import correction_click, dice, max_edt_point

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine.from_checkpoint(args.checkpoint, device=args.device, threads=args.threads)
    image = next(SAMPLE_CASE.glob("image.*"))
    session = engine.open(image)
    labels = {int(k): v for k, v in json.loads((SAMPLE_CASE / "labels.json").read_text()).items()}
    ref = read_label(next(SAMPLE_CASE.glob("label.*")), like=session.volume).array
    names = list(labels.values())
    value_of = {v: k for k, v in labels.items()}
    combined = np.zeros(ref.shape, np.uint8)
    rows = []
    for n, struct in enumerate(tqdm(DEMO_STRUCTURES, desc="demo", unit="structure", disable=args.json), start=1):
        target = ref == value_of[struct]
        k = int(np.argmax(target.sum(axis=(1, 2))))          # array axis 0 = k: the largest axial slice
        r, c = max_edt_point(target[k])
        points, plabels = [[float(c), float(r), float(k)]], [1]
        for _ in range(args.clicks):
            res2d = session.segment({"points": points, "point_labels": plabels, "mode": "2d"})
            nxt = correction_click(res2d.mask[k] > 0, target[k])
            if nxt is None or len(points) >= args.clicks:
                break
            (r, c), lab = nxt
            points.append([float(c), float(r), float(k)])
            plabels.append(lab)
        t = time.perf_counter()
        res3d = session.segment({"points": points, "point_labels": plabels, "mode": "3d"}, feedback=False)
        prop_s = time.perf_counter() - t
        mask = res3d.mask > 0
        write_mask(res3d.mask, session.volume, out / f"{struct}.nii.gz", name=struct)
        combined[mask & (combined == 0)] = n
        ranked = session.identify(mask=res3d.mask, vocabulary=names, top_k=3) if mask.any() else []
        save_overlay(session, res3d.mask, out / f"{struct}.png", "axial", k, points, plabels,
                     title=f"{struct}: Dice 3D {dice(mask, target):.2f}; model says "
                           f"'{ranked[0]['name'] if ranked else '(empty mask)'}'",
                     reference_kji=target)
        rows.append({"structure": struct, "clicks": len(points), "dice_2d": round(dice(res2d.mask[k] > 0, target[k]), 3),
                     "dice_3d": round(dice(mask, target), 3), "quality": round(res3d.score, 3),
                     "slices": len(res3d.slices), "propagation_s": round(prop_s, 3),
                     "click_ms": round(res2d.latency_ms["total_ms"], 1), "identified_as": ranked})
    write_mask(combined, session.volume, out / "segmentation.nii.gz")
    found = session.find("liver", mode="3d")
    write_mask(found.mask, session.volume, out / "find_liver.nii.gz", name="liver")
    save_overlay(session, found.mask, out / "find_liver.png", title="find: 'liver'", reference_kji=ref == value_of["liver"])
    report = {"image": str(image), "checkpoint": str(engine.checkpoint.path), "checkpoint_sha256": engine.checkpoint.sha256,
              "device": str(engine.device), "structures": rows,
              "find_liver": {"dice_3d": round(dice(found.mask > 0, ref == value_of["liver"]), 3), **found.summary()}}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    lines = ["# MedP-CLIP demo on the sample CT", "", f"Checkpoint: `{report['checkpoint']}` ({engine.device})", "",
             "| structure | clicks | Dice 2D | Dice 3D | slices | propagation s | click ms | identified as (top 3) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        top = ", ".join(f"{c['name']} {c['score']:.2f}" for c in r["identified_as"]) or "(empty mask)"
        lines.append(f"| {r['structure']} | {r['clicks']} | {r['dice_2d']:.3f} | {r['dice_3d']:.3f} | {r['slices']} | "
                     f"{r['propagation_s']:.2f} | {r['click_ms']:.0f} | {top} |")
    lines += ["", f"Text search 'liver': Dice 3D {report['find_liver']['dice_3d']:.3f}", "",
              "Files: one label map and PNG overlay per structure (orange = model, cyan = reference), "
              "segmentation.nii.gz (all), find_liver.nii.gz / .png, report.json."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines))
        print(f"\noutputs in {out.resolve()}")
    return 0

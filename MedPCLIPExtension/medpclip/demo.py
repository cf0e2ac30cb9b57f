"""``medpclip demo``: the main job on bundled sample data and the default checkpoint.

First on **patients the checkpoint was never trained on** (``Resources/SampleData/heldout_patients``: a BTCV
CT slice, 512 x 512, 8-bit display-scaled, and a BRATS FLAIR brain MR), then on the sample CT of a training
patient. A simulated user clicks each structure (first click at its deepest point on its largest slice, then
correction clicks, DESIGN.md section 8), propagates it in 3D where the case is a volume, asks the model what
each region is among the case's names, runs one text search, and writes label maps, PNG overlays and a report.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model.checkpoint import REPO_ROOT

log = logging.getLogger(__name__)
SAMPLES = REPO_ROOT / "Resources" / "SampleData"


@dataclass(frozen=True)
class DemoCase:
    folder: Path
    structures: tuple[str, ...]
    heldout: bool            # a patient the bundled checkpoint was not trained on


DEMO_CASES = (
    DemoCase(SAMPLES / "heldout_patients" / "btcv_ABD_030_125", ("liver", "spleen", "kidney_left", "aorta", "stomach"), True),
    DemoCase(SAMPLES / "heldout_patients" / "brats_pat0006_flair", ("peritumoral edema",), True),
    DemoCase(SAMPLES / "totalseg_ct_abdomen", ("liver", "spleen", "kidney_left", "aorta"), False),
)
FIND_CASE, FIND_TEXT = SAMPLES / "totalseg_ct_abdomen", "liver"


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on the bundled sample data (outputs in --out)")
    p.add_argument("--out", default="medpclip-demo", help="output folder (default: ./medpclip-demo)")
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--clicks", type=int, default=3, help="clicks per structure (1 + corrections)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_demo)


def _demo_structure(session, case: DemoCase, name: str, target: np.ndarray, names: list[str], clicks: int,
                    out: Path) -> dict:
    """One simulated user on one structure: clicks, corrections, 3D where the case has slices, naming."""
    from .data.vocabulary import resolve
    from .engine.outputs import save_overlay, write_mask
    from .data.masks import correction_click, dice, max_edt_point

    k = int(np.argmax(target.sum(axis=(1, 2))))          # array axis 0 = k: the largest axial slice
    r, c = max_edt_point(target[k])
    points, plabels = [[float(c), float(r), float(k)]], [1]
    dice_2d = []
    for _ in range(clicks):
        res2d = session.segment({"points": points, "point_labels": plabels, "mode": "2d"})
        dice_2d.append(round(dice(res2d.mask[k] > 0, target[k]), 3))
        nxt = correction_click(res2d.mask[k] > 0, target[k])
        if nxt is None or len(points) >= clicks:
            break
        (r, c), lab = nxt
        points.append([float(c), float(r), float(k)])
        plabels.append(lab)
    volume = target.shape[0] > 1
    row: dict = {"case": case.folder.name, "heldout_patient": case.heldout, "structure": name, "clicks": len(points),
                 "dice_2d_1click": dice_2d[0], "dice_2d": dice_2d[-1], "click_ms": round(res2d.latency_ms["total_ms"], 1)}
    result = res2d
    if volume:  # one click, 3D: what a user pressing "Propagate 3D" after the first click gets
        t = time.perf_counter()
        result = session.segment({"points": points[:1], "point_labels": [1], "mode": "3d"}, feedback=False)
        row.update(dice_3d_1click=round(dice(result.mask > 0, target), 3), slices=len(result.slices),
                   propagation_s=round(time.perf_counter() - t, 3), warnings=result.warnings)
    stem = f"{case.folder.name}_{name.replace(' ', '_')}"
    write_mask(result.mask, session.volume, out / f"{stem}.nii.gz", name=name)
    ranked = session.identify(mask=result.mask, vocabulary=names, top_k=3) if result.mask.any() else []
    row["identified_as"] = ranked
    row["named_right"] = bool(ranked) and ranked[0]["id"] == resolve(name, strict=False).id
    shown = row.get("dice_3d_1click", row["dice_2d"])
    save_overlay(session, result.mask, out / f"{stem}.png", "axial", k, points, plabels,
                 title=f"{name} ({'held-out patient' if case.heldout else 'training patient'}): Dice "
                       f"{'3D' if volume else '2D'} {shown:.2f}; model says '{ranked[0]['name'] if ranked else '(empty)'}'",
                 reference_kji=target)
    return row


def run_demo(args) -> int:
    from tqdm import tqdm

    from .data.datalist import load_cases
    from .data.volume import read_label
    from .engine import Engine
    from .engine.outputs import save_overlay, write_mask
    from .data.masks import dice

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine.from_checkpoint(args.checkpoint, device=args.device, threads=args.threads)
    rows = []
    bar = tqdm(total=sum(len(c.structures) for c in DEMO_CASES), desc="demo", unit="structure", disable=args.json)
    for case in DEMO_CASES:
        spec = load_cases(case.folder)[0]
        session = engine.open(spec.image, modality=spec.modality)
        ref = read_label(spec.label, like=session.volume).array
        value_of = {v: k for k, v in spec.labels.items()}
        names = list(spec.labels.values())
        for name in case.structures:
            rows.append(_demo_structure(session, case, name, ref == value_of[name], names, args.clicks, out))
            bar.update()
        session.close()
    bar.close()
    spec = load_cases(FIND_CASE)[0]
    session = engine.open(spec.image)
    ref = read_label(spec.label, like=session.volume).array == {v: k for k, v in spec.labels.items()}[FIND_TEXT]
    found = session.find(FIND_TEXT, mode="3d")
    write_mask(found.mask, session.volume, out / "find_liver.nii.gz", name=FIND_TEXT)
    save_overlay(session, found.mask, out / "find_liver.png", title=f"find: '{FIND_TEXT}'", reference_kji=ref)
    report = {"checkpoint": str(engine.checkpoint.path), "checkpoint_sha256": engine.checkpoint.sha256,
              "device": str(engine.device), "structures": rows,
              "find_liver": {"case": FIND_CASE.name, "dice_3d": round(dice(found.mask > 0, ref), 3), **found.summary()}}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    lines = ["# MedP-CLIP demo", "", f"Checkpoint: `{report['checkpoint']}` ({engine.device})", "",
             "| case | patient | structure | Dice 2D 1 click | Dice 2D after clicks | Dice 3D 1 click | slices | "
             "click ms | identified as (top 3 of the case's names) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        top = ", ".join(f"{c['name']} {c['score']:.2f}" for c in r["identified_as"]) or "(empty mask)"
        d3 = f"{r['dice_3d_1click']:.3f}" if "dice_3d_1click" in r else "(2D case)"
        lines.append(f"| {r['case']} | {'held out' if r['heldout_patient'] else 'training'} | {r['structure']} | "
                     f"{r['dice_2d_1click']:.3f} | {r['dice_2d']:.3f} ({r['clicks']}) | {d3} | {r.get('slices', 1)} | "
                     f"{r['click_ms']:.0f} | {top} |")
    lines += ["", f"Text search '{FIND_TEXT}' on {FIND_CASE.name}: Dice 3D {report['find_liver']['dice_3d']:.3f}", "",
              "Held-out patients: never seen in training (Resources/SampleData/heldout_patients/README.md). Files: one "
              "label map and PNG overlay per structure (orange = model, cyan = reference), find_liver.nii.gz / .png, "
              "report.json."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines))
        print(f"\noutputs in {out.resolve()}")
    return 0

"""One click in 3D, then 3D correction clicks (the largest 3D error component's deepest point, as the benchmark's 3D
protocol), each added to the same 3D prompt; volume Dice after each interaction. Not a test.
    corr3d.py OUT.json CASE_DIR [CASE_DIR ...] [--max-structures N] [--interactions N]"""
import json, sys, time, numpy as np
from medpclip.engine import Engine
from medpclip.evaluation.items import load_specs
import ast
from medpclip.engine import policy
from medpclip.data.cases import load_case
from medpclip.data.masks import dice, max_edt_point
from medpclip.evaluation.metrics import correction_click_3d
from medpclip.evaluation.runners import canon_to_input_point
args = sys.argv[1:]
out_path = args.pop(0)
n_struct = int(args[args.index("--max-structures") + 1]) if "--max-structures" in args else 4
n_inter = int(args[args.index("--interactions") + 1]) if "--interactions" in args else 6
dirs = [a for a in args if not a.startswith("--") and not a.isdigit() and "=" not in a]
for a in args:
    if "=" in a:
        name, _, value = a.partition("=")
        assert hasattr(policy, name), name
        setattr(policy, name, ast.literal_eval(value))
import os
eng = Engine.from_checkpoint(None, threads=int(os.environ.get("THREADS", "1")))
rows = []
for spec in load_specs(dirs):
    case = load_case(spec)
    s = eng.open(case.image)
    spacing = tuple(float(x) for x in case.canon_spacing[::-1])
    values = sorted(case.concepts, key=lambda v: -int((case.canon_label == v).sum()))[:n_struct]
    for v in values:
        target = case.canon_label == v
        areas = target.sum(axis=(1, 2))
        k = int(np.argmax(areas))
        r, c = max_edt_point(target[k])
        pts, labs = [canon_to_input_point(s, c, r, k)], [1]
        dices, times, nslices = [], [], []
        s.forget_feedback()
        for n in range(n_inter):
            t = time.perf_counter()
            res = s.segment({"space": "ijk", "points": pts, "point_labels": labs, "mode": "3d",
                             "slice": s.input_slice_index("axial", k)})
            times.append(round((time.perf_counter() - t) * 1000))
            pred = s.orient.array_to_canonical(res.mask) > 0
            dices.append(round(dice(pred, target), 4)); nslices.append(len(res.slices))
            nxt = correction_click_3d(pred, target, spacing)
            if nxt is None:
                dices += [dices[-1]] * (n_inter - n - 1); break
            (kk, rr, cc), lab = nxt
            pts.append(canon_to_input_point(s, cc, rr, kk)); labs.append(int(lab))
        rows.append({"case": spec.name, "structure": spec.labels[v], "dice": dices, "ms": times, "slices": nslices,
                     "labels": labs})
        print(spec.name, spec.labels[v], dices, flush=True)
    s.close()
json.dump(rows, open(out_path, "w"))
print("mean", np.round(np.mean([r["dice"] for r in rows], axis=0), 3).tolist())

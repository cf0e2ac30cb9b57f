"""Deepest-point (and random interior) first clicks: each multimask output forced in the context pass (refined as
usual) -> final Dice; plus the context pass's candidate masks' boundary contrast / gradient on the slice, and the
decoder state the click choice head reads."""
import sys, json, numpy as np, torch
from scipy import ndimage
sys.path.insert(0, "scripts")
from record_first_clicks import FirstPassProbe, FULL_EXTENT, random_interior_click
from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice, max_edt_point
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import case_meta, dataset_name, select_patients, patient_of
from medpclip.evaluation.runners import engine_predictor
patients, out_path, n_random = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = Engine.from_checkpoint(None, threads=2)
probe = FirstPassProbe(engine.model)
masks_seen = {}
def _keep(m, a, o):
    masks_seen.setdefault("m", o[0][0].float().clone())
engine.model.mask_decoder.register_forward_hook(_keep)
rng = np.random.default_rng(0)
def ring_stats(img, gm, m):
    if not m.any(): return 0.0, 0.0
    inner = m & ~ndimage.binary_erosion(m, iterations=2); outer = ndimage.binary_dilation(m, iterations=2) & ~m
    edge = m & ~ndimage.binary_erosion(m)
    return (float(abs(img[inner].mean() - img[outer].mean())) if outer.any() and inner.any() else 0.0), float(gm[edge].mean())
rows = []
specs = select_patients(load_specs(["../shared/training"], walk=True), patients.split(","))
for spec in specs:
    case = load_case(spec)
    _, items2d, _ = case_items(case, FULL_EXTENT, 20, None, 3)
    session = engine.open(case.image); meta = case_meta(spec)
    grid = session.grid("axial", session.context_window("axial"))
    for item in items2d:
        target = extract_slice(case.canon_label, "axial", item.idx) == item.value
        img = extract_slice(session.canon, "axial", item.idx).astype(np.float32)
        gm = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1))
        clicks = [("deepest", max_edt_point(target))] + [("random", random_interior_click(target, rng)) for _ in range(n_random)]
        for kind, (r, c) in clicks:
            predict = engine_predictor(session, item.idx)
            dices, state, cands = [], None, None
            for k in (1, 2, 3):
                probe.arm(k); masks_seen.clear(); session.forget_feedback("axial", item.idx)
                dices.append(dice(predict([(r, c, 1)], None), target))
                state = state or probe.state
                if cands is None: cands = masks_seen["m"]
            probe.force = None; session.forget_feedback("axial", item.idx)
            default = dice(predict([(r, c, 1)], None), target)
            feats = []
            for k in (1, 2, 3):
                m = (grid.logits_to_slice(cands[k]) > 0).numpy()
                con, grad = ring_stats(img, gm, m)
                feats.append({"contrast": con, "grad": grad, "area": int(m.sum()), "ctx_dice": dice(m, target)})
            rows.append({"case": spec.name, "patient": patient_of(spec), "dataset": dataset_name(spec.name, meta),
                         "label": spec.labels[item.value], "kind": kind, "dice": dices, "default": default,
                         "cands": feats, "token": state["token"].tolist(), "iou": state["iou"].tolist(),
                         "area": state["area"].tolist()})
    session.close()
json.dump(rows, open(out_path, "w")); print(len(rows))

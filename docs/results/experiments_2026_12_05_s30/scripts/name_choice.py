"""Deepest-point first click, each multimask output forced in the context pass (refined as usual): final Dice,
area, and the top names of each final mask (mask naming over the whole vocabulary) and of the click's prompt."""
import sys, numpy as np, torch
from scipy import ndimage
sys.path.insert(0, "scripts")
from record_first_clicks import FirstPassProbe, FULL_EXTENT
from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice, max_edt_point
from medpclip.engine import Engine
from medpclip.engine import recognition as R
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import case_meta, dataset_name, patient_of, select_patients
from medpclip.evaluation.runners import engine_predictor
ck = sys.argv[3] if len(sys.argv) > 3 else None
engine = Engine.from_checkpoint(ck, threads=2)
probe = FirstPassProbe(engine.model)
concepts, embs = engine.concept_embeddings(None)
embs = embs.float()
specs = select_patients(load_specs(["../shared/training"], walk=True), sys.argv[1].split(","))
rows = []
for spec in specs:
    case = load_case(spec)
    _, items2d, _ = case_items(case, FULL_EXTENT, 20, None, 3)
    session = engine.open(case.image)
    meta = case_meta(spec)
    for item in items2d:
        target = extract_slice(case.canon_label, "axial", item.idx) == item.value
        r, c = max_edt_point(target)
        predict = engine_predictor(session, item.idx)
        outs = []
        for k in (1, 2, 3):
            probe.arm(k); session.forget_feedback("axial", item.idx)
            m = predict([(r, c, 1)], None)
            if m.any():
                reg = torch.nn.functional.normalize(R._mask_embedding(session, "axial", item.idx, m), dim=0).float()
                p = torch.softmax(engine.model.logit_scale.exp().clamp(max=100) * embs @ reg, 0)
                top = torch.argsort(p, descending=True)[:3].tolist()
                names = [concepts[i]["id"] for i in top]; probs = [float(p[i]) for i in top]
            else:
                names, probs = [], []
            img = extract_slice(session.canon, "axial", item.idx).astype(np.float32)
            gm = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1))
            if m.any():
                inner = m & ~ndimage.binary_erosion(m, iterations=2); outer = ndimage.binary_dilation(m, iterations=2) & ~m
                edge = m & ~ndimage.binary_erosion(m)
                grad = float(gm[edge].mean()); contrast = float(abs(img[inner].mean() - img[outer].mean())) if outer.any() else 0.0
                sd_in = float(img[m].std())
            else:
                grad = contrast = sd_in = 0.0
            outs.append({"dice": dice(m, target), "area": int(m.sum()), "names": names, "probs": probs,
                         "grad": grad, "contrast": contrast, "sd_in": sd_in})
        prompt_names = torch.argsort(embs @ probe.state["region"].float(), descending=True)[:3].tolist()
        probe.force = None; session.forget_feedback("axial", item.idx)
        default = dice(predict([(r, c, 1)], None), target)
        rows.append({"case": spec.name, "dataset": dataset_name(spec.name, meta), "label": spec.labels[item.value],
                     "outs": outs, "default": default, "iou": probe.state["iou"].tolist(),
                     "prompt_names": [concepts[i]["id"] for i in prompt_names]})
    session.close()
import json; json.dump(rows, open(sys.argv[2], "w"))
print(len(rows))

"""Dump each item's mask region embedding (the engine's identify path) and the case's names during a patient
benchmark: python runs/naming_dump.py OUT.pt benchmark ARGS..."""
import sys
import numpy as np
import torch
from medpclip.evaluation import runners
from medpclip.data.geometry import extract_slice, insert_slice

ROWS = []

def recognition(runner, case, item, names, dataset_names=None, prompts=runners.RECOGNITION_PROMPTS):
    s, eng = runner.session, runner.engine
    target = extract_slice(case.canon_label, "axial", item.idx) == item.value
    vol = np.zeros(case.canon_label.shape, bool)
    insert_slice(vol, "axial", item.idx, target)
    region = s.region_embedding(mask=s.to_input(vol)).float().cpu()
    from medpclip.engine import recognition as rec
    from medpclip.model.region_geometry import region_geometry
    from medpclip.engine import policy
    canon2d = extract_slice(s.canonical_mask(s.to_input(vol)), "axial", item.idx)
    raw = rec._over_framings(s, "axial", policy.IDENTIFY_VIEW_ZOOMS, lambda w: s.predict_slice(
        "axial", item.idx, [], None, canon2d, None, with_masks=False, window=w).region).float().cpu()
    grid = s.grid("axial", s.context_window("axial"))
    image, frame = rec._context_frame(s, "axial", item.idx)
    geo = region_geometry(image, (grid.mask_to_model(canon2d) > 0.5).cpu(), case.modality.upper() == "CT", frame, True)
    concepts, _ = eng.concept_embeddings(names, case.modality)
    ranked = eng.rank(region, names, 5, case.modality)
    ROWS.append({"case": case.spec.name, "slice": int(item.idx), "truth": item.concept.id,
                 "names": [c["id"] for c in concepts], "region": region, "raw": raw, "geometry": geo, "modality": case.modality,
                 "pixels": int(target.sum())})
    return {"top1": ranked[0]["id"] == item.concept.id, "top5": any(r["id"] == item.concept.id for r in ranked)}

runners.recognition = recognition
from medpclip.cli import main
try:
    main(sys.argv[2:])
finally:
    torch.save(ROWS, sys.argv[1])

"""A first click that knows the structure's name: each of the decoder's answers to the click (prompt ``alternative``
0, 1, 2) is named, and the answer the name fits best is kept. Dice of each answer and each answer's probability of the
target name (among the full vocabulary, among the case's names, and by the answer's mask as `identify` names one), per item, written as JSON lines. Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/named_click.py ../shared/training PATIENTS OUT.jsonl
"""

import json
import sys

import numpy as np

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items, load_specs
from medpclip.data.masks import dice
from medpclip.evaluation.patients import FULL_EXTENT, dataset_name, case_meta, select_patients
from medpclip.evaluation.protocol import first_prompt
from medpclip.evaluation.runners import canon_to_input_point

patients = sys.argv[2].split(",")
engine = Engine.from_checkpoint(threads=2)
out = open(sys.argv[3], "w")
for spec in select_patients(load_specs([sys.argv[1]], walk=True), patients):
    case = load_case(spec)
    _, items, _ = case_items(case, FULL_EXTENT, 20, 6, 4)
    session = engine.open(case.image)
    names = [case.spec.labels[v] for v in case.concepts]
    for item in items:
        target = extract_slice(case.canon_label, "axial", item.idx) == item.value
        (click,), _ = first_prompt(target, "click")
        r, c, _ = click
        row = {"case": spec.name, "dataset": dataset_name(spec.name, case_meta(spec)), "concept": item.concept.id,
               "dice": [], "p_vocab": [], "p_case": [], "p_mask": []}
        for a in range(engine.answers_per_click):
            session.forget_feedback("axial", item.idx)
            prompt = {"space": "ijk", "points": [canon_to_input_point(session, c, r, item.idx)], "point_labels": [1],
                      "mode": "2d", "slice": session.input_slice_index("axial", item.idx)}
            if a:
                prompt["alternative"] = a
            res = session.segment(prompt)
            mask = extract_slice(session.orient.array_to_canonical(res.mask), "axial", item.idx) > 0
            row["dice"].append(round(float(dice(mask, target)), 4))
            for key, vocab in (("p_vocab", None), ("p_case", names)):
                ranking = session.identify(result=res, vocabulary=vocab, top_k=1 << 20)
                row[key].append(next((x["score"] for x in ranking if x["id"] == item.concept.id), 0.0))
            ranking = session.identify(mask=res.mask, vocabulary=None, top_k=1 << 20)  # by mask, as identify names one
            row["p_mask"].append(next((x["score"] for x in ranking if x["id"] == item.concept.id), 0.0))
        session.forget_feedback("axial", item.idx)
        out.write(json.dumps(row) + "\n")
        out.flush()
    session.close()

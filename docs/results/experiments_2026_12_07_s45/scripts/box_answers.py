"""A tight box's four answers: Dice of each of the decoder's outputs (0 = single-mask, 1-3 = multimask; the engine
answers a box alone with ``box_output``) on the README's items, to see whether a box's "other answer" would help
the user as a click's does. Not a test; the engine's choice is forced by wrapping ``answer_index``.

    .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/box_answers.py ../shared/training PATIENTS OUT.jsonl
"""

import json
import sys

from medpclip.data.cases import load_case
from medpclip.data.geometry import extract_slice
from medpclip.data.masks import dice
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import FULL_EXTENT, dataset_name, case_meta, select_patients
from medpclip.evaluation.protocol import first_prompt
from medpclip.evaluation.runners import engine_predictor

engine = Engine.from_checkpoint(threads=2)
model = engine.model
forced = {"k": None}
original = model.answer_index


def answer_index(iou, single_click, choice=None, box_alone=False, box_corrected=False, rank=0):
    if box_alone and forced["k"] is not None:
        return forced["k"]
    return original(iou, single_click, choice, box_alone=box_alone, box_corrected=box_corrected, rank=rank)


model.answer_index = answer_index
out = open(sys.argv[3], "w")
for spec in select_patients(load_specs([sys.argv[1]], walk=True), sys.argv[2].split(",")):
    case = load_case(spec)
    _, items, _ = case_items(case, FULL_EXTENT, 20, 6, 4)
    session = engine.open(case.image)
    for item in items:
        target = extract_slice(case.canon_label, "axial", item.idx) == item.value
        _, box = first_prompt(target, "box")
        row = {"case": spec.name, "dataset": dataset_name(spec.name, case_meta(spec)), "concept": item.concept.id,
               "engine": 0.0, "dice": []}
        forced["k"] = None
        row["engine"] = round(float(dice(engine_predictor(session, item.idx)([], box), target)), 4)
        for k in range(4):
            forced["k"] = k
            row["dice"].append(round(float(dice(engine_predictor(session, item.idx)([], box), target)), 4))
        out.write(json.dumps(row) + "\n")
        out.flush()
    session.close()

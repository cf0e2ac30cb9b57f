"""Naming each structure alone against naming a slice's structures together (``Session.identify_together``: a
different name each), on the held-out patients' items of the README's protocol (every labelled slice, at most 4 per
case, the 6 largest items per case), by mask, among the case's own names. Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s44/scripts/name_together.py ../shared/training
"""

import collections
import sys

import numpy as np

from medpclip.data.cases import load_case
from medpclip.data.geometry import insert_slice, extract_slice
from medpclip.engine import Engine
from medpclip.evaluation.items import case_items, load_specs
from medpclip.evaluation.patients import FULL_EXTENT, dataset_name, case_meta, select_patients

PATIENTS = "BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1".split(",")
engine = Engine.from_checkpoint(threads=1)
right = collections.defaultdict(list)
for spec in select_patients(load_specs([sys.argv[1]], walk=True), PATIENTS):
    case = load_case(spec)
    _, items, _ = case_items(case, FULL_EXTENT, 20, 6, 4)
    session = engine.open(case.image)
    names = [case.spec.labels[v] for v in case.concepts]
    by_slice = collections.defaultdict(list)
    for item in items:
        by_slice[item.idx].append(item)
    for idx, slice_items in by_slice.items():
        masks = []
        for item in slice_items:
            volume = np.zeros(case.canon_label.shape, bool)
            insert_slice(volume, "axial", idx, extract_slice(case.canon_label, "axial", idx) == item.value)
            masks.append(session.to_input(volume))
        together = session.identify_together(masks, names, 1)
        for item, named in zip(slice_items, together):
            alone = session.identify(mask=masks[slice_items.index(item)], vocabulary=names, top_k=1)[0]["id"]
            right[dataset_name(spec.name, case_meta(spec))].append((alone == item.concept.id,
                                                                   named["id"] == item.concept.id))
    session.close()
print("dataset | items | Top-1 alone | Top-1 named together")
for ds, values in sorted(right.items()):
    v = np.array(values, float)
    print(f"{ds} | {len(v)} | {v[:, 0].mean():.3f} | {v[:, 1].mean():.3f}")
avg = np.mean([np.array(v, float).mean(0) for v in right.values()], axis=0)
print(f"dataset average | | {avg[0]:.3f} | {avg[1]:.3f}")

"""Naming by mask among each case's names: which name wins when it is wrong (BTCV patients given). Not a test."""
import sys, collections, glob, json
import numpy as np
from medpclip.engine import Engine
from medpclip.data.cases import load_case
from medpclip.evaluation.items import load_specs
from medpclip.data.geometry import extract_slice, insert_slice
pats = sys.argv[1].split(",")
eng = Engine.from_checkpoint(threads=2)
specs = [s for s in load_specs(sorted(glob.glob("../shared/training/btcv_2d/ABD_*"))) if s.patient in pats]
conf = collections.Counter(); n = collections.Counter(); rows = []
for spec in specs:
    case = load_case(spec)
    s = eng.open(case.image)
    names = [c.id for c in case.concepts.values()]
    for v, concept in case.concepts.items():
        target = case.canon_label == v
        if target.sum() < 20: continue
        region = s.region_embedding(mask=s.to_input(target))
        top = eng.rank(region, names, 2, case.modality)
        n[concept.id] += 1
        # centroid column in canonical orientation (i = patient left), share of the body's width
        k = np.nonzero(target.any(axis=(1, 2)))[0][0] if target.ndim == 3 else 0
        if top[0]["id"] != concept.id:
            conf[(concept.id, top[0]["id"])] += 1
    s.close()
print("n", sum(n.values()), "wrong", sum(conf.values()))
for (a, b), c in conf.most_common(): print(f"{a:32s} -> {b:32s} {c}")

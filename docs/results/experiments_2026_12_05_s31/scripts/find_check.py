import sys, numpy as np, logging
from medpclip.engine import Engine
from medpclip.data.cases import load_case
from medpclip.evaluation.items import load_specs
from medpclip.data.masks import dice
ck, text = sys.argv[1], sys.argv[2]
spec = [s for s in load_specs('Resources/SampleData', walk=True) if s.name == sys.argv[3]][0]
case = load_case(spec)
from medpclip.model import load_checkpoint
import torch; torch.set_num_threads(2)
eng = Engine(load_checkpoint(ck))
s = eng.open(case.image)
r = s.find(text, mode='3d')
m = r.mask > 0
lab = case.label.array
print(text, 'slices', m.any((1, 2)).sum(), 'found', r.found)
for v, c in case.concepts.items():
    d = dice(m, lab == v)
    if d > 0.05: print(f'  {c.name}: {d:.3f}')

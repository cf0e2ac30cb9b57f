"""Held-out BTCV/BRATS naming by mask among the case's names: which name wins when it is wrong."""
import sys, numpy as np, torch
from collections import Counter
from medpclip.engine import Engine
from medpclip.model import load_checkpoint
from medpclip.data.cases import load_case
from medpclip.evaluation.items import load_specs
from medpclip.evaluation.patients import select_patients
from medpclip.data.geometry import extract_slice, insert_slice
torch.set_num_threads(1)
ck = sys.argv[1] if len(sys.argv) > 1 else None
eng = Engine(load_checkpoint(ck))
specs = select_patients(load_specs('../shared/training', walk=True), ['BTCV_009','BTCV_010','BTCV_028','BTCV_029','BTCV_030'])
conf = Counter(); tot = Counter(); ok = Counter()
for spec in specs:
    case = load_case(spec)
    s = eng.open(case.image)
    names = [c.name for c in case.concepts.values()]
    lab = case.canon_label
    for v, c in case.concepts.items():
        area = [(extract_slice(lab, 'axial', k) == v).sum() for k in range(lab.shape[0])]
        k = int(np.argmax(area))
        if area[k] < 30: continue
        vol = np.zeros(lab.shape, bool); insert_slice(vol, 'axial', k, extract_slice(lab, 'axial', k) == v)
        region = s.region_embedding(mask=s.to_input(vol))
        top = eng.rank(region, names, 1, case.modality)[0]
        tot[c.name] += 1
        if top['id'] == c.id: ok[c.name] += 1
        else: conf[(c.name, top['name'])] += 1
for n in sorted(tot): print(f'{n:35s} {ok[n]}/{tot[n]}')
print(conf.most_common(15))

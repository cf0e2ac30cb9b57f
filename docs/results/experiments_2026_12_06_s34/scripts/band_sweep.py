import sys, numpy as np
import medpclip.engine.stroke_edges as se
from medpclip.data.masks import dice
sets={n:dict(np.load(f'runs/{n}_items.npz',allow_pickle=True)) for n in ('annot_train','annot_train_rich','annot_ho','annot_ho_rich')}
for band in (15,20,30):
  for reach in (16,):
    se.BAND, se.REACH = band, reach
    out=[]
    for n,it in sets.items():
        res={}
        for i in range(len(it['dataset'])):
            m=se.refine_to_strokes(it['image'][i].astype(np.float32), it['answer'][i], it['strokes'][i]) if band or reach else it['answer'][i]
            res.setdefault(it['dataset'][i],[]).append(dice(m,it['target'][i]))
        out.append(f"{n}: " + " ".join(f"{k} {np.mean(v):.4f}" for k,v in sorted(res.items())))
    print(f'band {band} reach {reach} |', ' | '.join(out), flush=True)

import numpy as np
import medpclip.engine.stroke_edges as se
from medpclip.data.masks import dice
from collections import defaultdict
sets={n:dict(np.load(f'runs/{n}_items.npz',allow_pickle=True)) for n in ('annot_train','annot_train_rich')}
for share in (None, 0.3, 0.5, 0.75, 1.0):
    se.BAND_SHARE=share; out=[]
    worst=defaultdict(list)
    for n,it in sets.items():
        res=defaultdict(list)
        for i in range(len(it['dataset'])):
            sp=(0.8,0.8) if it['dataset'][i]=='btcv' else (1.0,1.0)
            m=se.refine_to_strokes(it['image'][i].astype(np.float32), it['answer'][i], it['strokes'][i], sp)
            dd=dice(m,it['target'][i]); res[it['dataset'][i]].append(dd)
            worst[(n,it['structure'][i])].append(dd-dice(it['answer'][i],it['target'][i]))
        out.append(f"{n}: " + " ".join(f"{k} {np.mean(v):.4f}" for k,v in sorted(res.items())) + f" avg {np.mean([np.mean(v) for v in res.values()]):.4f}")
    w=sorted(((np.mean(v),k,len(v)) for k,v in worst.items() if len(v)>=3))[:3]
    print('share',share,'|',' | '.join(out),'| worst', [(k[1],n_,round(m,3)) for m,k,n_ in w], flush=True)

import sys, time, numpy as np
import medpclip.engine.stroke_edges as se
from medpclip.data.masks import dice
for n in ('annot_train','annot_train_rich','annot_ho','annot_ho_rich'):
    it=dict(np.load(f'runs/{n}_items.npz',allow_pickle=True)); res={}; base={}; ms=[]
    for i in range(len(it['dataset'])):
        sp=(0.8,0.8) if it['dataset'][i]=='btcv' else (1.0,1.0)
        t0=time.perf_counter(); m=se.refine_to_strokes(it['image'][i].astype(np.float32), it['answer'][i], it['strokes'][i], sp); ms.append((time.perf_counter()-t0)*1000)
        res.setdefault(it['dataset'][i],[]).append(dice(m,it['target'][i])); base.setdefault(it['dataset'][i],[]).append(dice(it['answer'][i],it['target'][i]))
    a={k:round(np.mean(v),4) for k,v in sorted(base.items())}; r={k:round(np.mean(v),4) for k,v in sorted(res.items())}
    print(n, 'answer', a, np.mean(list(a.values())).round(4), 'refined', r, np.mean(list(r.values())).round(4), 'ms median %.1f p90 %.1f max %.1f'%(np.median(ms),np.percentile(ms,90),max(ms)), flush=True)

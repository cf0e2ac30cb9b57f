import sys; sys.path.insert(0,'docs/results/experiments_2026_12_06_s34/scripts')
import numpy as np, medpclip.engine.stroke_edges as se
from box_edges import refine_box
from medpclip.data.masks import dice
for path in sys.argv[1:]:
    it=dict(np.load(path,allow_pickle=True))
    for band_mm in (1.6, 2.4, 4.0, 6.0):
        se.BAND_MM=band_mm; se.BAND_SHARE=1.0
        res={}
        for k in range(len(it['dataset'])):
            m=refine_box(it['image'][k].astype(np.float32), it['answer'][k], tuple(it['box'][k]), tuple(it['spacing'][k]))
            res.setdefault(it['dataset'][k],[]).append(dice(m,it['target'][k]))
        r={d:round(float(np.mean(v)),4) for d,v in sorted(res.items())}
        print(path, band_mm, r, round(float(np.mean(list(r.values()))),4), flush=True)

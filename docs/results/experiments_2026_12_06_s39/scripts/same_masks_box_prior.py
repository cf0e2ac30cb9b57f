"""Boxes, box + click and a prior mask (+ click) on the four sample volumes (up to 9 structures each); pickles masks,
scores, views and times to argv[1]. Run once per engine version and compare the pickles."""
import sys, numpy as np, pickle, pathlib
from medpclip.engine import Engine
from medpclip.data.volume import read_label
from medpclip.data.masks import max_edt_point
from scipy import ndimage
eng = Engine.from_checkpoint(None, threads=2)
out = {}
for case in ["totalseg_ct_abdomen", "totalseg_mr_abdomen", "heldout_patients/btcv_ABD_030_105", "heldout_patients/brats_pat0006_flair"]:
    d = pathlib.Path("Resources/SampleData")/case
    s = eng.open(d/"image.nii.gz")
    lab = read_label(d/"label.nii.gz", like=s.volume).array
    for v in np.unique(lab)[1:10]:
        m = lab == v
        k = int(np.argmax(m.sum(axis=(1, 2))))
        r, c = max_edt_point(m[k])
        rr, cc = np.nonzero(m[k])
        box = [int(cc.min()), int(rr.min()), k, int(cc.max()), int(rr.max()), k]
        res = [s.segment({"box": box}, feedback=False),
               s.segment({"box": box, "points": [[int(c), int(r), k]]}, feedback=False)]
        prior = np.zeros_like(m); prior[k] = ndimage.binary_erosion(m[k], iterations=2) | (ndimage.binary_dilation(m[k], iterations=1) & ~m[k])
        if prior[k].any():
            res.append(s.segment({"points": [[int(c), int(r), k]]}, prior_mask=prior, feedback=False))
        out[(case, int(v))] = [(x.mask.copy(), x.score, x.latency_ms.get('view_mm'), x.latency_ms['total_ms']) for x in res]
pickle.dump(out, open(sys.argv[1], "wb"))

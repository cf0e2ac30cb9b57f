"""First clicks (deepest point of each labelled structure) on the four sample volumes; pickles masks, scores, region
embeddings and latencies to argv[1]. Run once per engine version and compare the pickles."""
import sys, numpy as np, pickle, time
from medpclip.engine import Engine
from medpclip.data.volume import read_image, read_label
from medpclip.data.masks import max_edt_point
eng = Engine.from_checkpoint(None, threads=2)
out = {}
for case in ["totalseg_ct_abdomen", "totalseg_mr_abdomen", "heldout_patients/btcv_ABD_030_105", "heldout_patients/brats_pat0006_flair"]:
    import pathlib
    d = pathlib.Path("Resources/SampleData")/case
    if not d.exists(): continue
    s = eng.open(d/"image.nii.gz")
    lab = read_label(d/"label.nii.gz", like=s.volume).array
    for v in np.unique(lab)[1:12]:
        m = lab == v
        k = int(np.argmax(m.sum(axis=(1, 2))))
        r, c = max_edt_point(m[k])
        res = s.segment({"points": [[int(c), int(r), k]]}, feedback=False)
        out[(case, int(v))] = (res.mask.copy(), res.score, res.region_embedding.numpy(), res.latency_ms)
pickle.dump(out, open(sys.argv[1], "wb"))

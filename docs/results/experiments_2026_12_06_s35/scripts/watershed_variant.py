"""Offline: the strokes' edge refinement's competition by geodesic paths (current) vs a seeded watershed."""
import sys, time, numpy as np
from scipy import ndimage
from skimage.segmentation import watershed
import medpclip.engine.stroke_edges as se
from medpclip.data.masks import dice

def make_ws(compactness):
    def compete_ws(image, seeds):
        undecided = seeds == 0
        out = seeds == 1
        domain = ndimage.binary_dilation(undecided)
        if not ((seeds == 1) & domain).any() or not ((seeds == 2) & domain).any():
            return out
        image = image.astype(np.float32)
        grad = np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1))
        markers = np.where(domain, seeds, 0).astype(np.int32)
        lab = watershed(grad, markers, mask=domain, compactness=compactness)
        out[undecided] = lab[undecided] == 1
        return out
    return compete_ws

import importlib.util as _u; _s = _u.spec_from_file_location('old_se', 'runs/s35/geodesic_stroke_edges.py'); _old = _u.module_from_spec(_s); _s.loader.exec_module(_old)
orig = _old._compete
variants = [('geodesic', orig)] + [(f'watershed c={c}', make_ws(c)) for c in map(float, sys.argv[2].split(','))]
for n in sys.argv[1].split(','):
    it = dict(np.load(f'runs/{n}_items.npz', allow_pickle=True))
    ims = [x.astype(np.float32) for x in it['image']]
    for name, fn in variants:
        se._compete = fn
        res = {}; ms = []
        for i in range(len(ims)):
            sp = (0.8, 0.8) if it['dataset'][i] == 'btcv' else (1.0, 1.0)
            t0 = time.perf_counter(); m = se.refine_to_strokes(ims[i], it['answer'][i], it['strokes'][i], sp); ms.append((time.perf_counter() - t0) * 1000)
            res.setdefault(it['dataset'][i], []).append(dice(m, it['target'][i]))
        r = {k: round(np.mean(v), 4) for k, v in sorted(res.items())}
        print(n, name, r, round(np.mean(list(r.values())), 4), 'ms median %.2f p90 %.2f' % (np.median(ms), np.percentile(ms, 90)), flush=True)
    se._compete = orig
if len(sys.argv) > 3:  # the same at full resolution (no coarse grid)
    se.COARSE_PX = 10 ** 6
    for n in sys.argv[1].split(','):
        it = dict(np.load(f'runs/{n}_items.npz', allow_pickle=True))
        ims = [x.astype(np.float32) for x in it['image']]
        for name, fn in variants[1:]:
            se._compete = fn
            res = {}; ms = []
            for i in range(len(ims)):
                sp = (0.8, 0.8) if it['dataset'][i] == 'btcv' else (1.0, 1.0)
                t0 = time.perf_counter(); m = se.refine_to_strokes(ims[i], it['answer'][i], it['strokes'][i], sp); ms.append((time.perf_counter() - t0) * 1000)
                res.setdefault(it['dataset'][i], []).append(dice(m, it['target'][i]))
            r = {k: round(np.mean(v), 4) for k, v in sorted(res.items())}
            print(n, name, 'full resolution', r, round(np.mean(list(r.values())), 4), 'ms median %.2f p90 %.2f' % (np.median(ms), np.percentile(ms, 90)), flush=True)
        se._compete = orig

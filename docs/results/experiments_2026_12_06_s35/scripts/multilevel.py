"""Offline: the strokes' edge refinement, current vs multi-level (coarse decision, fine pass near its boundary)."""
import sys, time, numpy as np
from scipy import ndimage
import medpclip.engine.stroke_edges as se
from medpclip.data.masks import dice

FINE_PX = int(sys.argv[1]) if len(sys.argv) > 1 else 3
F = int(sys.argv[2]) if len(sys.argv) > 2 else 4

def cost_of(image, domain):
    grad = np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1))
    scale = float(np.median(grad[grad > 0])) if (grad > 0).any() else 1.0
    return np.where(domain, se.FLOOR + se.EDGE_WEIGHT * grad / max(scale, 1e-6), np.inf)

def decide(image, seeds, strokes, band, f):
    if band < se.COARSE_PX:
        return se._compete(image, seeds)
    coarse = seeds[::f, ::f].copy()
    for label in (2, 1):
        coarse[se._blocks(strokes == label, f).any((1, 3))] = label
    c = se._compete(se._blocks(image, f, "edge").mean((1, 3)), coarse)
    up = np.repeat(np.repeat(c, f, 0), f, 1)[: seeds.shape[0], : seeds.shape[1]]
    zone = se._within(up, FINE_PX) & se._within(~up, FINE_PX) & (seeds == 0)
    fine = seeds.copy()
    rest = (seeds == 0) & ~zone
    fine[rest] = np.where(up[rest], 1, 2)
    return se._compete(image, fine)

def refine_ml(image, mask, strokes, spacing):
    mask = np.asarray(mask, bool)
    pixel = max(min(spacing), 1e-3)
    band, reach = int(round(se.BAND_MM / pixel)), int(round(se.REACH_MM / pixel))
    band = max(2, min(band, int(round(se.BAND_SHARE * np.sqrt(mask.sum() / np.pi)))))
    strokes = np.asarray(strokes)
    pos = strokes == 1
    changeable = mask | (pos & ~mask)
    if not changeable.any():
        return mask
    rows, cols = np.nonzero(changeable)
    m = band + reach + 2
    r0, r1 = max(0, rows.min() - m), min(mask.shape[0], rows.max() + m + 1)
    c0, c1 = max(0, cols.min() - m), min(mask.shape[1], cols.max() + m + 1)
    out = np.zeros_like(mask)
    crop = (slice(r0, r1), slice(c0, c1))
    seeds = se._seeds(mask[crop], strokes[crop], band, reach)
    image = np.asarray(image, np.float32)[crop]
    fine = decide(image, seeds, strokes[crop], band, F)
    fine[strokes[crop] == 2] = False
    fine[strokes[crop] == 1] = True
    out[crop] = fine
    return out

for n in sys.argv[3].split(','):
    it = dict(np.load(f'runs/{n}_items.npz', allow_pickle=True))
    ims = [x.astype(np.float32) for x in it['image']]
    for name, fn in (('current', se.refine_to_strokes), ('multilevel', refine_ml)):
        res = {}; ms = []
        for rep in range(2):
            ms = []
            for i in range(len(ims)):
                sp = (0.8, 0.8) if it['dataset'][i] == 'btcv' else (1.0, 1.0)
                t0 = time.perf_counter(); m = fn(ims[i], it['answer'][i], it['strokes'][i], sp); ms.append((time.perf_counter() - t0) * 1000)
                if rep == 0:
                    res.setdefault(it['dataset'][i], []).append(dice(m, it['target'][i]))
        r = {k: round(np.mean(v), 4) for k, v in sorted(res.items())}
        print(n, name, f'fine_px={FINE_PX} f={F}', r, round(np.mean(list(r.values())), 4), 'ms median %.2f p90 %.2f' % (np.median(ms), np.percentile(ms, 90)), flush=True)

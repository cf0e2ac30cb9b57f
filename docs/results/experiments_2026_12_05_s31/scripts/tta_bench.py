"""Naming by mask averaged over zoomed context views (test-time augmentation), then `medpclip benchmark`.
    python runs/s31/tta_bench.py 0.9,1.15 -- <benchmark args>"""
import sys, torch
from torch.nn import functional as F
import medpclip.engine.recognition as rec
from medpclip.cli import main

scales = [float(x) for x in sys.argv[1].split(',')] if sys.argv[1] != 'none' else []
rest = sys.argv[sys.argv.index('--') + 1:]

def zoomed(w, f):
    x0, y0, x1, y1 = w
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * f, (y1 - y0) / 2 * f
    return int(round(cx - hx)), int(round(cy - hy)), int(round(cx + hx)), int(round(cy + hy))

def _mask_embedding(session, plane, idx, mask2d):
    ctx = session.context_window(plane)
    regions = [session.predict_slice(plane, idx, [], None, mask2d, None, with_masks=False, window=w).region
               for w in [ctx] + [zoomed(ctx, f) for f in scales]]
    region = F.normalize(torch.stack(regions).mean(0), dim=-1)
    return rec.with_geometry(session, region, plane, idx, mask2d)

rec._mask_embedding = _mask_embedding
sys.argv = ['medpclip', 'benchmark'] + rest
sys.exit(main())

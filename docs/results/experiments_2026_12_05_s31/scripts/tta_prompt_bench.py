"""identify from a prompt (box / click) with the region embedding averaged over zoomed context views; then benchmark."""
import sys, torch
from torch.nn import functional as F
import medpclip.engine.recognition as rec
from medpclip.engine import policy
from medpclip.engine.prompt import PromptSpec
from medpclip.data.views import zoomed_window
from medpclip.cli import main
orig = rec.region_embedding

def region_embedding(session, mask, prompt, plane, max_slices):
    if mask is not None or prompt is None:
        return orig(session, mask, prompt, plane, max_slices)
    spec = prompt if isinstance(prompt, PromptSpec) else PromptSpec.from_dict(prompt)
    spec = PromptSpec(**{**spec.__dict__, "mode": "3d"})
    resolved = session.resolve(spec)
    res = session.predict_slice(spec.plane, resolved.start, resolved.points, resolved.box2d, None, None, with_masks=True)
    ctx = session.context_window(spec.plane)
    regions = [res.region] + [session.predict_slice(spec.plane, resolved.start, resolved.points, resolved.box2d, None, None,
                                                    with_masks=False, window=zoomed_window(ctx, z)).region
                              for z in policy.IDENTIFY_VIEW_ZOOMS]
    region = F.normalize(torch.stack(regions).mean(0), dim=-1)
    return rec.with_geometry(session, region, spec.plane, resolved.start, res.mask)

rec.region_embedding = region_embedding
sys.argv = ['medpclip', 'benchmark'] + sys.argv[sys.argv.index('--') + 1:]
sys.exit(main())

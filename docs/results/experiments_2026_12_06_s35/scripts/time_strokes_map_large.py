"""A strokes label map on a synthetic 512 x 512 x 300 volume (2 threads): the answer, and a click after it.
Run as is for this checkout, or with PYTHONPATH=<worktree of 8da946e>/MedPCLIPExtension for session 34."""
import time, numpy as np, torch
from medpclip.engine import Engine
eng = Engine.from_checkpoint(None, threads=2)
rng = np.random.default_rng(0)
vol = rng.normal(0, 30, (300, 512, 512)).astype(np.float32)
vol[:, 100:400, 120:420] += 200  # a body
vol[:, 200:300, 200:300] += 300  # an organ
aff = np.diag([0.8, 0.8, 2.0, 1.0])
s = eng.open(vol, aff)
st = np.zeros(vol.shape, np.uint8); st[150, 240:260, 220:280] = 1; st[150, 190:195, 200:300] = 2
s.features('axial', [150]) if False else None
for rep in range(3):
    t0 = time.perf_counter(); r = s.segment({'mode': '2d'}, scribbles=st, feedback=False); t1 = time.perf_counter()
    t2 = time.perf_counter(); r2 = s.segment({'space': 'ijk', 'points': [[250, 250, 150]], 'mode': '2d'}, feedback=False); t3 = time.perf_counter()
    print('strokes map %.1f ms, click %.1f ms' % ((t1 - t0) * 1000, (t3 - t2) * 1000), r.mask.sum(), r2.mask.sum())

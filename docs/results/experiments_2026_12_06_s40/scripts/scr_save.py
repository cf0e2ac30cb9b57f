"""Run `medpclip benchmark --protocol scribbles` and save every item's slice, strokes, MedP-CLIP answer, GrowCut
answer and reference (offline fusion sweeps). Usage: scr_save.py OUT.npz [POLICY=V ...] -- benchmark args"""
import sys, ast, numpy as np
import medpclip.engine.policy as policy
import medpclip.evaluation.scribbles as S
from medpclip.cli import main

out = sys.argv[1]
sep = sys.argv.index("--")
for pair in sys.argv[2:sep]:
    k, _, v = pair.partition("="); setattr(policy, k, ast.literal_eval(v))
rec = {"image": [], "strokes": [], "answer": [], "growcut": [], "target": []}
_dice, _gc = S.dice, S.growcut_2d_strokes
state = {"n": 0}
def dice(a, t):
    if state["n"] % 2 == 0:
        rec["answer"].append(np.asarray(a, bool)); rec["target"].append(np.asarray(t, bool))
    state["n"] += 1
    return _dice(a, t)
def gc(img, strokes):
    r = _gc(img, strokes)
    rec["image"].append(np.asarray(img, np.float32)); rec["strokes"].append(np.asarray(strokes, np.uint8))
    rec["growcut"].append(np.asarray(r, bool))
    return r
S.dice, S.growcut_2d_strokes = dice, gc
sys.argv = ["medpclip", "benchmark"] + sys.argv[sep + 1:]
try:
    main()
finally:
    np.savez_compressed(out, **{k: np.array(v, dtype=object) for k, v in rec.items()})

import json, sys, collections, numpy as np, torch
from medpclip.model.checkpoint import load_checkpoint
from medpclip.model.click_choice import choice_features
rows = json.load(open(sys.argv[1]))
head = load_checkpoint(None).model.click_choice
tok = torch.tensor([r["token"] for r in rows]); iou = torch.tensor([r["iou"] for r in rows]); area = torch.tensor([r["area"] for r in rows])
with torch.no_grad():
    hs = head.scores(choice_features(tok, iou, area), iou).numpy()
D = np.array([r["dice"] for r in rows]); C = np.array([[c["contrast"] for c in r["cands"]] for r in rows])
G = np.array([[c["grad"] for c in r["cands"]] for r in rows])
ds = np.array([r["dataset"] for r in rows]); lab = np.array([r["label"] for r in rows]); kind = np.array([r["kind"] for r in rows])
def report(name, pick, detail=False):
    got = D[np.arange(len(D)), pick]
    s = {d: got[ds == d].mean() for d in np.unique(ds)}
    worst = []
    base = D[np.arange(len(D)), hs.argmax(1)]
    for d in np.unique(ds):
        for l in np.unique(lab[ds == d]):
            m = (ds == d) & (lab == l)
            worst.append((got[m].mean() - base[m].mean(), l, m.sum()))
    worst.sort()
    print(f"{name:28s} " + " ".join(f"{d} {v:.3f}" for d, v in s.items()) + f" avg {np.mean(list(s.values())):.3f}  worst vs head: " + ", ".join(f"{l[:14]} {w:+.3f}" for w, l, n in worst[:3]))
report("head (engine)", hs.argmax(1))
print("  engine default dice", {d: round(float(np.mean([r['default'] for r in rows if r['dataset'] == d])), 3) for d in np.unique(ds)})
report("iou head", iou.numpy()[:, 1:].argmax(1))
report("ctx contrast", C.argmax(1)); report("ctx grad", G.argmax(1))
report("oracle", D.argmax(1))
z = (hs - hs.mean(1, keepdims=True))
for lam in (32, 64, 128, 256):
    report(f"head + {lam} x contrast", (hs + lam * C).argmax(1))

import torch, collections, sys
from medpclip.engine.engine import Engine
eng = Engine.from_checkpoint(device="cpu", threads=2)
scale = float(eng.model.logit_scale.exp().clamp(max=100))
def load(p):
    return torch.load(p)
train = load('runs/dump_train.pt')
def patient(r):
    c = r['case']
    return '_'.join(c.split('_')[:2]) if c.startswith('ABD') else c.rsplit('_', 1)[0]
def ds(r): return 'brats' if 'brats' in r['case'] else 'btcv'
def text(ids, modality):
    return eng.concept_embeddings(ids, modality)[1].float()

def logits(r, cache, alpha, beta, mode):
    T = text(r['names'], r['modality'])
    x = r['region']
    base = scale * T @ x
    if alpha == 0 or not cache:
        return base
    F = torch.stack([c['region'] for c in cache]); y = [c['truth'] for c in cache]
    L = torch.tensor([[1.0 if yy == n else 0.0 for n in r['names']] for yy in y])  # (N, K)
    s = F @ x
    if mode == 'tip':
        aff = torch.exp(-beta * (1 - s)) @ L
        return base + alpha * aff
    if mode == 'proto':
        cnt = L.sum(0)
        P = torch.nn.functional.normalize((L.T @ F), dim=-1)
        ps = torch.where(cnt > 0, scale * P @ x, base)
        return (1 - alpha) * base + alpha * ps

def score(rows, cache_fn, alpha, beta, mode):
    ok = collections.defaultdict(list)
    for r in rows:
        lg = logits(r, cache_fn(r), alpha, beta, mode)
        ok[ds(r)].append(r['names'][int(lg.argmax())] == r['truth'])
    res = {k: sum(v) / len(v) for k, v in ok.items()}
    return res, sum(res.values()) / len(res)

if __name__ == '__main__':
    held = load(sys.argv[1] if len(sys.argv) > 1 else 'runs/dump_heldout.pt')
    loo = lambda r: [c for c in train if patient(c) != patient(r)]
    allc = lambda r: train
    for mode, grid in [('tip', [(0, 1)] + [(a, b) for a in (0.5, 1, 2, 4, 8) for b in (1, 3, 5.5, 10)]),
                       ('proto', [(a, 0) for a in (0.25, 0.5, 0.75, 1.0)])]:
        for a, b in grid:
            cv = score(train, loo, a, b, mode)
            h = score(held, allc, a, b, mode)
            print(f"{mode} a={a} b={b}  LOPO-train {cv[0]} avg {cv[1]:.3f} | held {h[0]} avg {h[1]:.3f}")

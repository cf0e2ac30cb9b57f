import json, sys, numpy as np, collections
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
def at(t, k): return t['medpclip'][min(k, len(t['medpclip'])) - 1]
g = collections.defaultdict(list)
for x, y in zip(a['trials'], b['trials']):
    assert (x['case'], x['slice'], x['structure']) == (y['case'], y['slice'], y['structure'])
    ds = 'brats' if x['case'].startswith('brats') else 'btcv'
    g[ds].append((x, y)); g[f"{ds}/{x['structure']}"].append((x, y))
for k in sorted(g):
    v = g[k]
    print(f"{k:40s} n={len(v):3d} " + ' '.join(f"@{n}: {np.mean([at(x, n) for x, _ in v]):.3f}->{np.mean([at(y, n) for _, y in v]):.3f}" for n in (1, 2, 3)))

import json, sys, collections, numpy as np
def load(p, first):
    d = json.load(open(p)); g = collections.defaultdict(list)
    for t in d['trials_2d']:
        if t['method'] == 'medpclip' and t['first'] == first: g[(t['dataset'], t['structure'])].append(t['dice'])
    return {k: np.array(v).mean(0) for k, v in g.items()}, {k: len(v) for k, v in g.items()}
first = sys.argv[3] if len(sys.argv) > 3 else 'click'
a, n = load(sys.argv[1], first); b, _ = load(sys.argv[2], first)
for k in sorted(a):
    d = b[k] - a[k]
    flag = " <<" if (d < -0.05).any() else ""
    print(f"{k[0]:6s} {k[1][:28]:28s} n={n[k]:3d} " + " ".join(f"@{i+1} {a[k][i]:.2f}->{b[k][i]:.2f}" for i in (0, 2, 4)) + flag)

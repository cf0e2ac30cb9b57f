import json, sys, collections, numpy as np
runs = sys.argv[1:]
data = {}
for r in runs:
    d = json.load(open(f'{r}/results.json'))
    by = collections.defaultdict(list)
    for t in d['trials_2d']:
        if t['method'] == 'medpclip' and t['first'] == 'click':
            by[(t['dataset'], t['structure'])].append(t['dice'])
    data[r] = by
keys = sorted(set().union(*[set(v) for v in data.values()]))
for k in (0, 2, 4):
    print(f"Dice@{k+1}", [r.split('/')[-1] for r in runs])
    for key in keys:
        vals = [np.mean([x[k] for x in data[r][key]]) if data[r].get(key) else float('nan') for r in runs]
        print(f"  {key[0]:5s} {key[1]:30s} {len(data[runs[0]].get(key, [])):3d}", " ".join(f"{v:.3f}" for v in vals))

import json, sys, collections, numpy as np
for p in sys.argv[1:]:
    d = json.load(open(p)); g = collections.defaultdict(lambda: collections.defaultdict(list))
    for t in d['trials_2d']:
        if t['method'] != 'medpclip' or t['first'] != 'click': continue
        for k in ('top1', 'top5', 'top1_box', 'top1_point', 'top1_all_vocabulary'):
            if t.get(k) is not None: g[t['dataset']][k].append(t[k])
    rows = {ds: {k: np.mean(v) for k, v in m.items()} for ds, m in g.items()}
    keys = ('top1', 'top5', 'top1_box', 'top1_point', 'top1_all_vocabulary')
    print(p); 
    for ds, m in sorted(rows.items()): print("  ", ds, len(g[ds]['top1']), " ".join(f"{k} {m.get(k, float('nan')):.3f}" for k in keys))
    print("   avg", " ".join(f"{k} {np.mean([m[k] for m in rows.values()]):.3f}" for k in keys))

"""Naming summary of benchmark result folders: Top-1/Top-5 by mask/box/point per dataset + per BRATS structure."""
import json, sys
from collections import defaultdict
keys = ['top1', 'top5', 'top1_box', 'top1_point', 'top1_dataset', 'top1_all_vocabulary']
for d in sys.argv[1:]:
    r = json.load(open(d + '/results.json'))
    t = [x for x in r['trials_2d'] if x['method'] == 'medpclip' and x.get('top1') is not None]
    # one entry per item (trials repeat naming)
    seen = {}
    for x in t:
        seen.setdefault((x['case'], x['structure'], x['slice']), x)
    t = list(seen.values())
    by = defaultdict(list)
    for x in t:
        by[x['dataset']].append(x)
    out = []
    avg = defaultdict(list)
    for ds, xs in sorted(by.items()):
        vals = {k: sum(bool(x[k]) for x in xs) / len(xs) for k in keys}
        for k in keys: avg[k].append(vals[k])
        out.append(f"{ds}({len(xs)}) " + ' '.join(f"{k}={v:.3f}" for k, v in vals.items()))
    out.append("avg " + ' '.join(f"{k}={sum(v)/len(v):.3f}" for k, v in avg.items()))
    st = defaultdict(list)
    for x in by.get('brats', []):
        st[x['structure'] + '/' + x['case'][-5:]].append(x['top1'])
    out.append('  brats: ' + ', '.join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(st.items())))
    print(d); print('\n'.join('  ' + o for o in out))

import json, sys
from collections import defaultdict
def summary(d):
    r = json.load(open(d + '/results.json'))
    seen = {}
    for x in r['trials_2d']:
        if x['method'] == 'medpclip' and x.get('top1') is not None:
            seen.setdefault((x['case'], x['structure'], x['slice']), x)
    by = defaultdict(list)
    for x in seen.values(): by[x['dataset']].append(x)
    res = {}
    for ds, xs in by.items():
        res[ds] = {k: sum(bool(x[k]) for x in xs) / len(xs) for k in ('top1', 'top1_box', 'top1_point', 'top1_dataset', 'top1_all_vocabulary')}
        res[ds]['n'] = len(xs)
    if len(by) > 1:
        res['average'] = {k: sum(res[ds][k] for ds in by) / len(by) for k in res[next(iter(by))] if k != 'n'}
    return res
rows = sys.argv[1:]
for row in rows:
    label, d = row.split('=')
    s = summary(d)
    cells = []
    for ds in ('btcv', 'brats', 'average'):
        if ds in s:
            v = s[ds]
            cells.append(f"{v['top1']:.3f}")
    a = s.get('average', s.get('brats'))
    print(f"| {label} | " + ' | '.join(cells) + f" | {a['top1_box']:.3f} | {a['top1_point']:.3f} | {a['top1_dataset']:.3f} | {a['top1_all_vocabulary']:.3f} |")

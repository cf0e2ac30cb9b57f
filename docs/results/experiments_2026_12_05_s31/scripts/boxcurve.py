"""Box-first 2D trials: Dice after 1..K interactions per dataset (and per structure with --per-structure)."""
import json, sys
from collections import defaultdict
import numpy as np
per = '--per-structure' in sys.argv
args = [a for a in sys.argv[1:] if a != '--per-structure']
for d in args:
    r = json.load(open(d + '/results.json'))
    t = [x for x in r['trials_2d'] if x['method'] == 'medpclip' and x['first'] == 'box']
    by = defaultdict(list)
    for x in t:
        by[x['dataset']].append(x['dice'])
        if per: by[x['dataset'] + '/' + x['structure']].append(x['dice'])
    print(d)
    for k, v in sorted(by.items()):
        a = np.array(v); print(f'  {k:40s} n={len(a):3d} ' + ' '.join(f'{m:.3f}' for m in a.mean(0)))

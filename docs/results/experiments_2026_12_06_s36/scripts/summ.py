import json, numpy as np, collections, sys, os
for v in sys.argv[1:]:
    p=f'runs/s36/{v}/strokes/results.json'
    if os.path.exists(p):
        d=json.load(open(p)); g=collections.defaultdict(list)
        for x in d['trials']:
            g['brats' if 'brats' in x['case'] else 'btcv'].append(x['medpclip'])
        allm=np.mean([x['medpclip'] for x in d['trials']],0)
        print(f"{v:14s} strokes all {np.round(allm,3).tolist()} ", {k: np.round(np.mean(np.array(a),0),3).tolist() for k,a in g.items()}, f"stroke {d['first_stroke_ms_median']:.1f} click {d['click_ms_median']:.1f}")
    for kind in ('scribbles_half','scribbles_full'):
        p=f'runs/s36/{v}/{kind}/results.md'
        if os.path.exists(p):
            L=open(p).read().splitlines()
            print(f"{v:14s} {kind}", ' | '.join(l for l in L if l.startswith('| brats |') or l.startswith('| btcv |') or 'average' in l))

import json, sys
for path in sys.argv[1:]:
    d = json.load(open(f'{path}/results.json'))
    out = []
    for ds, v in d['datasets'].items():
        for first in ('click', 'box'):
            c = v['methods']['medpclip'].get(first)
            if c and c.get('n'):
                out.append(f"{ds} {first} n{c['n']}: {c['dice@1']} / {c.get('dice@3')} / {c.get('dice@5')}")
    print(f"{path:28s}", ' | '.join(out))

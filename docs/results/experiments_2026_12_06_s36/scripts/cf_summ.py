import json, sys
for tag in sys.argv[1:]:
    d = json.load(open(f'runs/s36/{tag}/results.json'))
    out = []
    for ds, v in d['datasets'].items():
        c = v['methods']['medpclip']['click']
        out.append(f"{ds} n{c['n']}: {c['dice@1']} / {c['dice@3']} / {c['dice@5']}")
    print(f"{tag:10s}", ' | '.join(out))

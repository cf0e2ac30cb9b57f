"""Naming Top-1 (by mask / box / one click) per patient and per structure from `medpclip benchmark` results.json files."""
import json, sys, collections
for path in sys.argv[1:]:
    d = json.load(open(path))
    pp = {p: v['methods']['medpclip']['click'] for p, v in d['per_patient'].items()}
    row = {p: f"mask {v['top1']:.3f} box {v['top1_box']:.3f} click {v['top1_point']:.3f}" for p, v in pp.items()}
    per = collections.defaultdict(list)
    for t in d['trials_2d']:
        if t['method'] == 'medpclip' and t['first'] == 'click' and t.get('top1') is not None:
            per[(t['dataset'], t['label'])].append(t['top1'])
    print(path)
    for p, r in row.items():
        print("  ", p, r)
    print("   per structure (mask):", {f"{k[0]}/{k[1]}": f"{sum(v)}/{len(v)}" for k, v in sorted(per.items())})
    print("   datasets:", {k: (v['methods']['medpclip']['click']['top1'] if 'methods' in v else v) for k, v in d['datasets'].items()})

import json, sys, collections, numpy as np
def load(p):
    d = json.load(open(p)); g = collections.defaultdict(list); items = {}
    for t in d['trials_2d']:
        if t['method'] != 'medpclip' or t['first'] != sys.argv[3]: continue
        g[(t['dataset'], t['structure'])].append(t['dice'][0]); items[(t['case'], t['slice'], t['structure'])] = t['dice'][0]
    return g, items
a, ia = load(sys.argv[1]); b, ib = load(sys.argv[2])
for k in sorted(a):
    print(f"{k[0]:6s} {k[1]:32s} n={len(a[k]):3d} {np.mean(a[k]):.3f} -> {np.mean(b[k]):.3f} ({np.mean(b[k])-np.mean(a[k]):+.3f})")
diff = np.array([ib[k] - ia[k] for k in ia])
print("items better >0.02:", (diff > 0.02).sum(), "worse <-0.02:", (diff < -0.02).sum(), "of", len(diff))

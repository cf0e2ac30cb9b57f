import json, sys, collections, numpy as np
rows = json.load(open(sys.argv[1]))
def top(o): return o["names"][0] if o["names"] else None
def rule_same_name(r):
    # largest output whose top name equals output 1's top name, else output 1
    o = r["outs"]; n1 = top(o[0]); best = 0
    for k in (1, 2):
        if top(o[k]) == n1 and o[k]["area"] > o[best]["area"]: best = k
    return best
def rule_prompt_name(r):
    # largest output whose top name equals the click's prompt top name; none: output 1
    o = r["outs"]; pn = r["prompt_names"][0]; cands = [k for k in range(3) if top(o[k]) == pn]
    return max(cands, key=lambda k: o[k]["area"]) if cands else 0
def rule_same_name_prob(r, thr=0.5):
    o = r["outs"]; n1 = top(o[0]); best = 0
    for k in (1, 2):
        if top(o[k]) == n1 and o[k]["probs"] and o[k]["probs"][0] >= thr and o[k]["area"] > o[best]["area"]: best = k
    return best
def rule_oracle(r): return int(np.argmax([o["dice"] for o in r["outs"]]))
rules = {"out1": lambda r: 0, "out2": lambda r: 1, "out3": lambda r: 2, "same_name": rule_same_name,
         "prompt_name": rule_prompt_name, "same_name_p0.5": rule_same_name_prob, "oracle": rule_oracle}
g = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    key = (r["dataset"], r["label"])
    g[key]["default"].append(r["default"])
    for name, f in rules.items(): g[key][name].append(r["outs"][f(r)]["dice"])
names = ["default"] + list(rules)
ds = collections.defaultdict(lambda: collections.defaultdict(list))
for (d, l), m in sorted(g.items()):
    print(f"{d:6s} {l[:26]:26s} n={len(m['default']):3d} " + " ".join(f"{n} {np.mean(m[n]):.2f}" for n in names))
    for n in names: ds[d][n] += m[n]
for d, m in ds.items(): print(d, " ".join(f"{n} {np.mean(m[n]):.3f}" for n in names))
print("avg", " ".join(f"{n} {np.mean([np.mean(ds[d][n]) for d in ds]):.3f}" for n in names))
print("---- edge rules")
def argmax_of(key): return lambda r: int(np.argmax([o.get(key, 0) for o in r["outs"]]))
def combo(r, w=1.0):
    # default's choice unless another output's boundary gradient is clearly higher
    o = r["outs"]; g = [x.get("grad", 0) for x in o]
    return int(np.argmax(g))
extra = {"grad": argmax_of("grad"), "contrast": argmax_of("contrast")}
g2 = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    for name, f in extra.items(): g2[(r["dataset"], r["label"])][name].append(r["outs"][f(r)]["dice"])
    g2[(r["dataset"], r["label"])]["default"].append(r["default"])
ds2 = collections.defaultdict(lambda: collections.defaultdict(list))
for (d, l), m in sorted(g2.items()):
    print(f"{d:6s} {l[:26]:26s} " + " ".join(f"{n} {np.mean(m[n]):.2f}" for n in m))
    for n in m: ds2[d][n] += m[n]
for d, m in ds2.items(): print(d, " ".join(f"{n} {np.mean(m[n]):.3f}" for n in m))

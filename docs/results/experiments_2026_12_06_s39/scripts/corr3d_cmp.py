import json, sys, numpy as np
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
worse = better = 0
for x, y in zip(a, b):
    d = np.array(y["dice"]) - np.array(x["dice"])
    flag = "WORSE" if d.min() < -0.05 else ("better" if d.max() > 0.05 else "")
    worse += flag == "WORSE"; better += flag == "better"
    print(f'{x["case"][:22]:22s} {x["structure"][:20]:20s}', np.round(x["dice"], 3).tolist(), "->", np.round(y["dice"], 3).tolist(), flag)
print("means", np.round(np.mean([x["dice"] for x in a], 0), 3).tolist(), "->", np.round(np.mean([y["dice"] for y in b], 0), 3).tolist(), "worse", worse, "better", better)

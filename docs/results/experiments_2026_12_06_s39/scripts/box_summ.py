import json, sys, collections, numpy as np
rows = json.load(open(sys.argv[1]))
keys = [f"{v}{k}" for v in ("obj", "ctx") for k in range(4)]
agg = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    for k in keys:
        agg[r["structure"]][k].append(r[k])
        agg["ALL"][k].append(r[k])
    # oracle / IoU-head pick in obj view
    ious = [r[f"obj{k}_iou"] for k in range(4)]
    agg[r["structure"]]["obj_iou_pick"].append(r[f"obj{int(np.argmax(ious))}"]); agg["ALL"]["obj_iou_pick"].append(r[f"obj{int(np.argmax(ious))}"])
    best = max(r[k] for k in keys); agg[r["structure"]]["oracle"].append(best); agg["ALL"]["oracle"].append(best)
print("structure n " + " ".join(keys) + " obj_iou_pick oracle")
for s, d in sorted(agg.items(), key=lambda x: x[0]):
    print(s[:14].ljust(14), len(d["obj0"]), " ".join(f"{np.mean(d[k]):.3f}" for k in keys + ["obj_iou_pick", "oracle"]))

import json, sys
for name in ("heldout", "sample"):
    a = json.load(open(f"docs/results/find_local_2026_12_05/{name}.json"))
    try: b = json.load(open(f"runs/s30/find_ov_{name}.json"))
    except Exception: print(name, "not yet"); continue
    ib = {(r["case"], r["text"]): r for r in b["rows"]}
    print(name, a["mean_dice_3d"], "->", b["mean_dice_3d"], "foreign not found", a.get("foreign_not_found"), "->", b.get("foreign_not_found"))
    for r in a["rows"]:
        if r.get("foreign"): continue
        o = ib[(r["case"], r["text"])]
        print(f"  {r['case'][:22]:22s} {r['text']:22s} {r.get('dice_3d', '-')} -> {o.get('dice_3d', '-')}   s {r['seconds']:.1f} -> {o['seconds']:.1f}")

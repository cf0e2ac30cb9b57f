"""Offline rules over cf_dump.py records: Dice@1 per dataset for the current answer, the local answer, and gates."""
import sys, json, pickle, collections
import numpy as np

def load(pkl, res):
    R = pickle.load(open(pkl, "rb"))
    trials = [t for t in json.load(open(res))["trials_2d"] if t["method"] == "medpclip" and t["first"] == "click"]
    assert len(R) == len(trials), (len(R), len(trials))
    out = []
    for r, t in zip(R, trials):
        n = int(np.prod(r["shape"]))
        m = {k: np.unpackbits(v)[:n].reshape(r["shape"]).astype(bool) for k, v in r["masks"].items()}
        out.append((r, t, m))
    return out

def dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2 * (a & b).sum() / s

def stats(img, m):
    v = img[m].astype(np.float32)
    if v.size == 0:
        return np.nan, np.nan
    q1, q2, q3 = np.percentile(v, [25, 50, 75])
    return q2, q3 - q1

def features(r, m):
    img = r["img"].astype(np.float32)
    L, cur = m["L"], m["cur"]
    usable = r["local_ok"] and not r["L_border"] and L.any()
    extra = cur & ~L
    mL, iL = stats(img, L)
    mE, iE = stats(img, extra)
    return dict(usable=usable, ratio=cur.sum() / max(1, L.sum()), hold=(cur & L).sum() / max(1, L.sum()),
                dmed=abs(mE - mL) / (iL + 0.02) if extra.any() else 0.0, rawd=abs(mE - mL) if extra.any() else 0.0,
                sdL=iL, dsd=(iE / (iL + 1e-3)) if extra.any() else 1.0)

def rule_pick(f, rule, **p):
    if not f["usable"]:
        return "cur"
    if rule == "local":
        return "Lref"
    if rule == "cmp":
        return "cur" if f["ratio"] > p["k"] and f["hold"] > 0.5 else "Lref"
    if rule == "int":  # the extra region looks like the local answer: one organ the view cut -> current answer
        if f["ratio"] > p["k"] and f["hold"] > 0.5 and f["rawd"] < p["t"]:
            return "cur"
        return "Lref"
    raise ValueError(rule)

if __name__ == "__main__":
    recs = load(sys.argv[1], sys.argv[2])
    F = [features(r, m) for r, t, m in recs]
    D = [{k: dice(m[k], m["tgt"]) for k in ("cur", "Lref", "L", "W1")} for r, t, m in recs]
    ds = [t["dataset"] for r, t, m in recs]
    def report(name, picks):
        by = collections.defaultdict(list)
        for d, p, s in zip(D, picks, ds):
            by[s].append(d[p])
        print(f"{name:28s}", " | ".join(f"{s} n{len(v)} {np.mean(v):.4f}" for s, v in sorted(by.items())),
              f"| avg {np.mean([np.mean(v) for v in by.values()]):.4f}")
    report("cur", ["cur"] * len(D))
    report("local", [rule_pick(f, "local") for f in F])
    report("oracle", ["Lref" if f["usable"] and d["Lref"] > d["cur"] else "cur" for f, d in zip(F, D)])
    for k in (1.5, 2, 3):
        report(f"cmp k={k}", [rule_pick(f, "cmp", k=k) for f in F])
        for t in (0.02, 0.04, 0.06, 0.08, 0.12):
            report(f"int k={k} t={t}", [rule_pick(f, "int", k=k, t=t) for f in F])

def pick_dmed(f, k, t):
    if not f["usable"]:
        return "cur"
    return "cur" if f["ratio"] > k and f["hold"] > 0.5 and f["dmed"] < t else "Lref"

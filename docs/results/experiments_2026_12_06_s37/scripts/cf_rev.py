import sys, collections, numpy as np
sys.path.insert(0, "runs/s37")
import cf_analyse as A
recs = A.load(sys.argv[1], sys.argv[2])
def med_iqr(img, m):
    v = img[m]; q1, q2, q3 = np.percentile(v, [25, 50, 75]); return q2, q3 - q1
D = [{k: A.dice(m[k], m["tgt"]) for k in ("cur", "Lref")} for r, t, m in recs]
S = [(t["dataset"], t["structure"]) for r, t, m in recs]
base = []
rev = []
for r, t, m in recs:
    mm = dict(m); mm["cur"] = m["W1"]
    f = A.features(r, mm)
    base.append(A.pick_dmed(f, 4, 0.2))
    img = r["img"].astype(np.float32); L, W = m["L"], m["W1"]
    info = None
    if f["usable"] and W.any() and L.sum() > 0:
        extra = L & ~W
        if extra.any():
            mw, iw = med_iqr(img, W); me = np.median(img[extra])
            info = (L.sum() / W.sum(), (L & W).sum() / W.sum(), abs(me - mw) / (iw + 0.02))
    rev.append(info)
def show(name, picks):
    by = collections.defaultdict(list); st = collections.defaultdict(list)
    for d, p, s in zip(D, picks, S):
        by[s[0]].append(d[p]); st[s[1]].append(d[p])
    print(f"{name:22s}", " | ".join(f"{s} {np.mean(v):.4f}" for s, v in sorted(by.items())), " ".join(f"{k[:6]} {np.mean(st[k]):.3f}" for k in ("aorta", "inferior_vena_cava", "stomach", "liver", "gallbladder", "kidney_right", "esophagus")))
show("cur", ["cur"] * len(D)); show("frag", base)
for r_ in (1.5,):
    for tt in (0.0, 0.15, 0.3):
        picks = [("cur" if (p == "Lref" and i is not None and i[0] > r_ and i[1] > 0.5 and i[2] > tt) else p) for p, i in zip(base, rev)]
        show(f"rev r={r_} t>{tt}", picks)

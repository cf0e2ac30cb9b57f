import sys, numpy as np
sys.path.insert(0, "MedPCLIPExtension")
from medpclip.data.synth import load_label_map_case, synthesize
from medpclip.data.tumour_synth import insert_tumour, tumour_values, sequence_contrast
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
lm = load_label_map_case("../shared/training/synthseg_label_maps/training_seg_01.nii.gz")
host = [v for v, n in lm.names.items() if "cerebral white matter" in n]
fig, ax = plt.subplots(2, 4, figsize=(16, 8))
for col, seed in enumerate((3, 5, 7, 9)):
    rng = np.random.default_rng(seed)
    vals = tumour_values(lm.canon_label)
    lab, drawn = insert_tumour(lm.canon_label, lm.canon_spacing, rng, host, list(lm.names), vals)
    k = int(np.argmax([np.isin(lab[z], list(drawn)).sum() for z in range(lab.shape[0])]))
    for row, seq in enumerate(("FLAIR", "T1c")):
        img = synthesize(lab, lm.canon_spacing, rng, groups=lm.groups, adjust_means=sequence_contrast(vals, host, seq))
        ax[row, col].imshow(img[k], cmap="gray", origin="lower"); ax[row, col].set_title(f"{seq} draw {seed}"); ax[row, col].axis("off")
fig.savefig("runs/s32/seq_tumours.png", dpi=50, bbox_inches="tight")

"""docs/images/synthetic_tumours.png: three synthetic images of one SynthSeg label map with a tumour drawn in,
the sub-regions outlined (medpclip.data.tumour_synth)."""
import sys
import numpy as np
sys.path.insert(0, "MedPCLIPExtension")
from medpclip.data.synth import load_label_map_case, synthesize
from medpclip.data.tumour_synth import TUMOUR_NAMES, insert_tumour, tumour_values
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

lm = load_label_map_case("../shared/training/synthseg_label_maps/training_seg_01.nii.gz")
host = [v for v, n in lm.names.items() if "cerebral white matter" in n]
colours = {"necrotic tumour core": "#e41a1c", "peritumoral edema": "#4daf4a", "non-enhancing tumour": "#377eb8",
           "enhancing tumour": "#ffff33"}
fig, axes = plt.subplots(1, 3, figsize=(12, 4.6))
for ax, seed in zip(axes, (3, 5, 1)):
    rng = np.random.default_rng(seed)
    lab, drawn = insert_tumour(lm.canon_label, lm.canon_spacing, rng, host, list(lm.names), tumour_values(lm.canon_label))
    img = synthesize(lab, lm.canon_spacing, rng, groups=lm.groups)
    k = int(np.argmax([np.isin(lab[z], list(drawn)).sum() for z in range(lab.shape[0])]))
    ax.imshow(img[k], cmap="gray", origin="lower")
    for v, name in drawn.items():
        if (lab[k] == v).any():
            ax.contour(lab[k] == v, levels=[0.5], colors=[colours[name]], linewidths=1.2, origin="lower")
    ax.set_title(f"draw {seed}: axial slice {k}", fontsize=10)
    ax.axis("off")
fig.legend([Line2D([0], [0], color=colours[n], lw=2) for n in TUMOUR_NAMES], TUMOUR_NAMES, loc="lower center", ncol=4,
           fontsize=9, frameon=False)
fig.suptitle("Synthetic tumours in a SynthSeg label map, random contrast (training option --synth-tumours)", fontsize=11)
fig.savefig("docs/images/synthetic_tumours.png", dpi=80, bbox_inches="tight")

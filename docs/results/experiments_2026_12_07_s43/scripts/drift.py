"""KL drift between two checkpoints' first-prompt answers on training batches (calibrates --distill-weight)."""
import sys, torch
from medpclip.training.trainer import Trainer, TrainOptions
POOL = "../shared/training"
opts = TrainOptions(data=f"{POOL},{POOL}/btcv_2d,Resources/SampleData", out="runs/s43/drift", batch_size=12,
                    holdout_patients=("BTCV_009","BTCV_010","BTCV_028","BTCV_029","BTCV_030","brats_2013_pat0006_1"),
                    holdout_fraction=0, planes=("axial","coronal","sagittal"), max_slices_per_plane=10,
                    init_from=sys.argv[1], distill_weight=1.0, threads=1, stroke_share=0.1, clip_weight=0)
t = Trainer(opts)
from medpclip.model.checkpoint import load_checkpoint
student = load_checkpoint(sys.argv[2]).model.eval()
vals = []
with torch.no_grad():
    for step in range(6):
        b = t.make_batch(step)
        p = t._prompts(b.points, b.labels, b.boxes, b.region_mask, b.stroke_map)
        vals.append(float(t.distiller.loss(b.images, p, student(b.images, p).masks, b.is_region.float())))
print("KL per batch", [round(v, 4) for v in vals], "mean", sum(vals) / len(vals))

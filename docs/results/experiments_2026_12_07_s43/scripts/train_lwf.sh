#!/usr/bin/env bash
# Session 43: the continued fine-tune's recipe (docs/RESULTS.md "A continued fine-tune of the candidate"), from the
# bundled default (07dd0961), held near the default's first-prompt answers by --distill-weight 20 (LwF).
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root; outputs go to runs/s43
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
.venv/bin/medpclip train --data $POOL,$POOL/btcv_2d,Resources/SampleData --holdout-patients $HOLDOUT \
  --holdout-fraction 0 --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps \
  --synth-volumes 2 --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s43/lwf20 \
  --clip-weight 0 --correction-rounds 4 --stroke-share 0.1 --distill-weight 20 --warmup 30 --lr 1e-4 \
  --batch-size 12 --seed 12 --threads 1 --max-steps 1200 --save-every 50 "$@"

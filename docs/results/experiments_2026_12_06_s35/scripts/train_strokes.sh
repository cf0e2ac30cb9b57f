#!/usr/bin/env bash
# session 35: the strokes' own input path continued on half annotator-style strokes (everything else frozen)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
.venv/bin/medpclip train --data $POOL,$POOL/btcv_2d,Resources/SampleData --holdout-patients $HOLDOUT --holdout-fraction 0 \
  --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2 \
  --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s35/strokes_annot \
  --trainable stroke_prompt --clip-weight 0 --stroke-share 1.0 --annotator-stroke-share 0.5 --correction-rounds 4 \
  --max-steps 900 --warmup 20 --lr 5e-4 --batch-size 12 --seed 35 --threads 2 --save-every 100

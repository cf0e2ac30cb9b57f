#!/usr/bin/env bash
# stage 1 of the local-view candidate (session 37): the default's recipe of 2026-12-05 plus --local-view-share 0.3
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
.venv/bin/medpclip train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
  --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2 \
  --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s37/lv30 --clip-weight 0 --correction-rounds 4 \
  --stroke-share 0.1 --local-view-share 0.3 --warmup 30 --lr 1.5e-4 --batch-size 12 --seed 37 --threads 2 --save-every 100 \
  --max-steps 900 --max-minutes 60

#!/usr/bin/env bash
# Session 45: a short mask-only fine-tune of the default with the standard CT looks (control) and with wider ones
# (WIDE=1), both re-aligned for naming, then both through naming_under_looks.py. Two runs side by side, 1 thread each.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
S=docs/results/experiments_2026_12_07_s45/scripts
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
run() {  # $1 = 0 | 1 (WIDE), $2 = name
  WIDE=$1 .venv/bin/python $S/wide_looks_train.py train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
    --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2 \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s45/$2 --clip-weight 0 \
    --correction-rounds 4 --stroke-share 0.1 --warmup 30 --lr 1.5e-4 --batch-size 12 --seed 11 --threads 1 \
    --max-steps 400 --max-minutes 28 --save-every 100 --json > runs/s45/$2.log 2>&1
  WIDE=$1 .venv/bin/python $S/wide_looks_train.py align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
    --max-slices-per-plane 12 --init-from runs/s45/$2/medpclip.safetensors --out runs/s45/$2_align --steps 3000 \
    --batch-size 128 --seed 0 --threads 1 --json > runs/s45/$2_align.log 2>&1
}
run 0 looks_std & run 1 looks_wide & wait

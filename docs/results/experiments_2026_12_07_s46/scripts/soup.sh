#!/usr/bin/env bash
# The average of the three wider-looks fine-tunes (seeds 11, 12, 13; before alignment), weight by weight, then
# re-aligned for naming exactly like each seed (scripts/wide_looks.sh's align step).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
S=docs/results/experiments_2026_12_07_s45/scripts
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
# (s11 + s12) / 2, then 2/3 of that + 1/3 of s13 = the plain average of the three
.venv/bin/python scripts/interpolate_checkpoints.py runs/s45/looks_wide/medpclip.safetensors \
  runs/s46/wide_s12/medpclip.safetensors 0.5 runs/s46/soup_s11_s12.safetensors
.venv/bin/python scripts/interpolate_checkpoints.py runs/s46/soup_s11_s12.safetensors \
  runs/s46/wide_s13/medpclip.safetensors 0.3333333333 runs/s46/soup3.safetensors
WIDE=1 .venv/bin/python $S/wide_looks_train.py align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
  --max-slices-per-plane 12 --init-from runs/s46/soup3.safetensors --out runs/s46/soup3_align \
  --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > runs/s46/soup3_align.log 2>&1

#!/usr/bin/env bash
# Seeds 12 and 13 of session 45's control run (scripts/wide_looks.sh with WIDE=0: the same 400 steps with the
# standard looks), so that the wider looks are compared with the standard ones as three seeds against three.
# Then each through the held-out protocol and the looks table.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
S=docs/results/experiments_2026_12_07_s45/scripts
O=docs/results/experiments_2026_12_07_s46
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
mkdir -p runs/s46
run() {  # $1 = seed
  WIDE=0 .venv/bin/python $S/wide_looks_train.py train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
    --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2 \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s46/std_s$1 --clip-weight 0 \
    --correction-rounds 4 --stroke-share 0.1 --warmup 30 --lr 1.5e-4 --batch-size 12 --seed $1 --threads 1 \
    --max-steps 400 --max-minutes 28 --save-every 100 --json > runs/s46/std_s$1.log 2>&1
  WIDE=0 .venv/bin/python $S/wide_looks_train.py align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
    --max-slices-per-plane 12 --init-from runs/s46/std_s$1/medpclip.safetensors --out runs/s46/std_s$1_align \
    --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > runs/s46/std_s$1_align.log 2>&1
  CHECKPOINT=runs/s46/std_s$1_align/medpclip.safetensors THREADS=1 .venv/bin/python $S/naming_under_looks.py $POOL \
    > $O/looks_std_s$1.txt 2> runs/s46/looks_std_s$1.log
  $O/scripts/heldout.sh runs/s46/std_s$1_align/medpclip.safetensors runs/s46/heldout_std_s$1
}
run 12 & run 13 & wait
$O/scripts/heldout.sh runs/s45/looks_std_align/medpclip.safetensors runs/s46/heldout_std_s11

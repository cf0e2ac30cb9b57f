#!/usr/bin/env bash
# Stage 3 of the candidate recipe (scripts/train_candidate_2026_12_05.sh) for the averaged fine-tune: which output
# answers a box alone and the click choice head, both chosen on the training patients only.
# usage: stage3.sh ALIGNED_CHECKPOINT NAME   (writes runs/s46/NAME_box{0,2,3}.safetensors, runs/s46/NAME_final.safetensors)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
BASE=$1; N=$2
POOL=../shared/training
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
box() {
  .venv/bin/python scripts/set_box_output.py --output $1 --base $BASE --out runs/s46/${N}_box$1.safetensors \
    --note "box Dice@1 on the training patients' boxes (session 46)"
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint runs/s46/${N}_box$1.safetensors --out runs/s46/choose_${N}_box$1 > runs/s46/choose_${N}_box$1.log 2>&1
}
( box 0; box 2; box 3 ) &
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint $BASE --out runs/s46/fc_train_$N.npz > runs/s46/fc_train_$N.log 2>&1
wait
for k in 0 2 3; do echo "box output $k: $(grep -m3 '^| \(btcv\|brats\|\*\*dataset\)' runs/s46/choose_${N}_box$k/results.md | awk -F'|' '{printf "%s %s; ", $2, $7}')"; done

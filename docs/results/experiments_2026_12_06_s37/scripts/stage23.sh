#!/usr/bin/env bash
# stages 2-3 of the local-view candidate (session 37), as scripts/train_candidate_2026_12_05.sh does them
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
S1=runs/s37/lv30/medpclip.safetensors
O=runs/s37
# stage 2 (align) and stage 3b (click record) in parallel, one core each
.venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 --max-slices-per-plane 12 \
  --init-from $S1 --out $O/lv_align --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > $O/lv_align.log 2>&1 &
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint $S1 --out $O/fc_train_lv.npz > $O/fc_train_lv.log 2>&1
wait
# stage 3a: which output answers a box alone, on the training patients' boxes
for k in 0 2 3; do
  .venv/bin/python scripts/set_box_output.py --output $k --base $O/lv_align/medpclip.safetensors --out $O/lv_box$k.safetensors
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint $O/lv_box$k.safetensors --out $O/choose_lv_box$k > $O/choose_lv_box$k.log 2>&1 &
  [ $k = 2 ] && wait
done
wait

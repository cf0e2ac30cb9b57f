#!/usr/bin/env bash
# WiSE-FT of the 2026-12-05 fine-tunes (docs/RESULTS.md "Weight-space average of the default and the continued
# fine-tune"): the mask-only stage 1 of the default (candidate of 2026-12-05, runs/cr4_box0, sha256 9c13f7ee...)
# and of the continued fine-tune (runs/d_cr4: 1200 more steps, lr 1e-4, seed 12) averaged tensor by tensor with
# alpha 0.5 (fixed beforehand, WiSE-FT's default; not tuned on held-out patients), then stages 2-3 of
# scripts/train_candidate_2026_12_05.sh unchanged: region-text alignment, the output that answers a box alone
# (chosen on training patients), the click choice head (fitted on training patients). Then the held-out benchmark.
# Needs runs/cr4_box0 and runs/d_cr4 (scripts/train_candidate_2026_12_05.sh stage 1, then the continued run's
# command in docs/RESULTS.md "A continued fine-tune").
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
OUT=${OUT:-runs/wise}
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
mkdir -p $OUT
# stage 1: the weight-space average of the two mask-only fine-tunes
.venv/bin/python scripts/interpolate_checkpoints.py runs/cr4_box0/medpclip.safetensors runs/d_cr4/medpclip.safetensors \
  0.5 $OUT/stage1.safetensors
# stage 2: region-text alignment on the frozen result
.venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 --max-slices-per-plane 12 \
  --init-from $OUT/stage1.safetensors --out $OUT/align --steps 3000 --batch-size 128 --seed 0 --threads 1 --json \
  > $OUT/align.log 2>&1
# stage 3a: which output answers a box alone, on the training patients' boxes (box Dice@1)
for k in 0 2 3; do
  .venv/bin/python scripts/set_box_output.py --output $k --base $OUT/align/medpclip.safetensors --out $OUT/box$k.safetensors
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint $OUT/box$k.safetensors --out $OUT/choose_box$k > $OUT/choose_box$k.log 2>&1
done
BOX=$(.venv/bin/python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
score = {k: json.load(open(f"{out}/choose_box{k}/results.json"))["dataset_average"]["methods"]["medpclip"]["box"]["dice@1"]
         for k in (0, 2, 3)}
print(max(score, key=score.get))
PY
)
echo "box output: $BOX"
# stage 3b: the click choice head, recorded and fitted on the training patients only
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint $OUT/stage1.safetensors --out $OUT/fc_train.npz > $OUT/fc_train.log 2>&1
.venv/bin/python scripts/fit_click_selector.py $OUT/fc_train.npz --features token --l2 0.01 --margin 0.8 \
  --base $OUT/box$BOX.safetensors --out $OUT/final.safetensors > $OUT/fit.log 2>&1
# held-out patients: the patient-level benchmark (clicks, box, one-click 3D, naming)
.venv/bin/medpclip benchmark --data $POOL --patients $HOLDOUT --max-slices-per-case 4 --max-trials 6 --clicks 5 \
  --threads 1 --overlays 0 --methods medpclip --sam-repeats 0 --checkpoint $OUT/final.safetensors \
  --out $OUT/heldout > $OUT/heldout.log 2>&1
echo "done $OUT"

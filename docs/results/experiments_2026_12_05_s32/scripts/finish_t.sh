#!/bin/bash
# stage 3 (the rest) of scripts/train_tumour_synth_2026_12_05.sh, then the held-out evaluation of the result, the
# control (runs/d3: the continued fine-tune without tumours) and the default, all with today's engine.
# TAG=tsequence: the same for the CONTRAST=sequence run (its result only; the control and default are measured).
cd /work/main
TAG=${TAG:-t}
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f train_tumour_synth_2026_12_05.sh > /dev/null; do sleep 30; done
POOL=../shared/training
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
K=$(python3 -c "
import json
best = max((json.load(open(f'runs/choose_$TAG' + f'_box{k}/results.json'))['dataset_average']['methods']['medpclip']['box']['dice@1'], k) for k in (0, 2, 3))
print(best[1])")
echo "box output chosen on training patients: $K"
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint runs/${TAG}_cr4/medpclip.safetensors --out runs/fc_train_${TAG}.npz
# (as run in sessions 32-33 without --require-cv-gain: the head went in although its cross-validation lost, and cost
# BTCV's first click 0.03-0.04; docs/RESULTS.md, session 33. Now the box checkpoint is used when it does not gain.)
.venv/bin/python scripts/fit_click_selector.py runs/fc_train_${TAG}.npz --features token --l2 0.01 --margin 0.8 \
  --require-cv-gain --base runs/${TAG}_box$K.safetensors --out runs/${TAG}3.safetensors > runs/s32/click_choice_fit_${TAG}.txt 2>&1 \
  || cp runs/${TAG}_box$K.safetensors runs/${TAG}3.safetensors
PAT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
E="--data $POOL --patients $PAT --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0"
.venv/bin/medpclip benchmark $E --checkpoint runs/${TAG}3.safetensors --out runs/s32/eval_${TAG}3 > runs/s32/eval_${TAG}3.log 2>&1 &
if [ "$TAG" = t ]; then
  .venv/bin/medpclip benchmark $E --checkpoint runs/d3.safetensors --out runs/s32/eval_d3 > runs/s32/eval_d3.log 2>&1
  wait
  .venv/bin/medpclip benchmark $E --checkpoint Resources/Models/medpclip_tiny_default.safetensors --out runs/s32/eval_default > runs/s32/eval_default.log 2>&1
fi
wait
echo done

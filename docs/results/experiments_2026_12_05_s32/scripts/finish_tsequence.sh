#!/bin/bash
# stage 3 (the rest) of scripts/train_tumour_synth_2026_12_05.sh, then the held-out evaluation of the result, the
# control (runs/d3: the continued fine-tune without tumours) and the default, all with today's engine.
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f X; do sleep 30; done
POOL=../shared/training
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
K=$(python3 -c "
import json
best = max((json.load(open(f'runs/choose_tsequence_box{k}/results.json'))['dataset_average']['methods']['medpclip']['box']['dice@1'], k) for k in (0, 2, 3))
print(best[1])")
echo "box output chosen on training patients: $K"
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint runs/tsequence_cr4/medpclip.safetensors --out runs/fc_train_tsequence.npz
.venv/bin/python scripts/fit_click_selector.py runs/fc_train_tsequence.npz --features token --l2 0.01 --margin 0.8 \
  --base runs/tsequence_box$K.safetensors --out runs/tsequence3.safetensors > runs/s32/click_choice_fit_tsequence.txt 2>&1
PAT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
E="--data $POOL --patients $PAT --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0"
.venv/bin/medpclip benchmark $E --checkpoint runs/tsequence3.safetensors --out runs/s32/eval_tsequence3 > runs/s32/eval_tsequence3.log 2>&1 &
wait
echo done

#!/usr/bin/env bash
# Stages 2-3 of scripts/train_candidate_2026_12_05.sh on the LwF fine-tune (session 43): alignment, the output that
# answers a box alone and the click choice head, chosen / fitted on the training patients only.
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root; outputs go to runs/s43
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
S1=${S1:-runs/s43/lwf20/medpclip.safetensors}
O=runs/s43
# stage 2 (align) and stage 3b's click record in parallel, one core each
.venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 --max-slices-per-plane 12 \
  --init-from $S1 --out $O/lwf_align --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > $O/lwf_align.log 2>&1 &
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint $S1 --out $O/fc_train_lwf.npz > $O/fc_train_lwf.log 2>&1
wait
# stage 3a: which output answers a box alone, on the training patients' boxes (output 0 came last in every choice
# since 2026-12-04, so only 2 and 3 are run, side by side)
for k in 2 3; do
  .venv/bin/python scripts/set_box_output.py --output $k --base $O/lwf_align/medpclip.safetensors --out $O/lwf_box$k.safetensors
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint $O/lwf_box$k.safetensors --out $O/choose_lwf_box$k > $O/choose_lwf_box$k.log 2>&1 &
done
wait
for k in 2 3; do python3 -c "import json,sys; d=json.load(open('$O/choose_lwf_box$k/results.json'))['dataset_average']; print($k, d)" ; done
K=$(python3 -c "
import json
d={k: json.load(open(f'$O/choose_lwf_box{k}/results.json'))['dataset_average']['methods']['medpclip']['box']['dice@1'] for k in (2,3)}
print(max(d, key=d.get))")
echo "box output chosen: $K"
# stage 3b: the click choice head, fitted on the training patients only (written only where its CV gains)
.venv/bin/python scripts/fit_click_selector.py $O/fc_train_lwf.npz --features token --l2 0.01 --margin 0.8 \
  --base $O/lwf_box$K.safetensors --out $O/lwf_final.safetensors

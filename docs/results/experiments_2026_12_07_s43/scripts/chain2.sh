#!/usr/bin/env bash
# stage 3a (box output, training patients) after the alignment, then the evaluations. The click choice head is the
# default's, unchanged (record_first_clicks.py on the 106 training cases would take about 40 min here).
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root; outputs go to runs/s43
export OMP_WAIT_POLICY=PASSIVE
POOL=../shared/training; O=runs/s43
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
while pgrep -f "medpclip align .*lwf_align" > /dev/null; do sleep 5; done
date
for k in 2 3; do
  .venv/bin/python scripts/set_box_output.py --output $k --base $O/lwf_align/medpclip.safetensors --out $O/lwf_box$k.safetensors
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint $O/lwf_box$k.safetensors --out $O/choose_lwf_box$k > $O/choose_lwf_box$k.log 2>&1 &
done
wait
K=$(python3 -c "
import json
d={k: json.load(open(f'$O/choose_lwf_box{k}/results.json'))['dataset_average']['methods']['medpclip']['box']['dice@1'] for k in (2,3)}
print(d)
print(max(d, key=d.get))" | tee /dev/stderr | tail -1)
echo "box output chosen: $K"
cp $O/lwf_box$K.safetensors $O/lwf_final.safetensors
date
HELDOUT=1 $O/eval.sh $O/lwf_final.safetensors lwf
date

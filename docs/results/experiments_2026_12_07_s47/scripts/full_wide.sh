#!/usr/bin/env bash
# Session 47: the bundled default's own recipe (scripts/train_candidate_2026_12_05.sh: from the previous default
# b40b7ac5, 1100 steps of a 2000-step schedule, resumed to end at 1400, then re-aligned) with one change,
# --wide-ct-looks, for seeds 11 (the default's seed) and 12, side by side, 1 thread each. Stage 3 (box output and
# click choice head, training patients only) by session 46's stage3.sh.
# usage: full_wide.sh   (writes runs/s47/full_wide_s{11,12}*)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
mkdir -p runs/s47
[ -f runs/previous_default.safetensors ] || git show 9399bda:Resources/Models/medpclip_tiny_default.safetensors > runs/previous_default.safetensors  # b40b7ac5
run() {  # $1 = seed
  local out=runs/s47/full_wide_s$1
  local train=(.venv/bin/medpclip train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0
    --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2
    --init-from runs/previous_default.safetensors --out $out --clip-weight 0 --correction-rounds 4
    --stroke-share 0.1 --warmup 30 --lr 1.5e-4 --batch-size 12 --seed $1 --threads 1 --save-every 100 --wide-ct-looks)
  "${train[@]}" --max-steps 2000 --max-minutes 1000 > $out.log 2>&1 &
  local pid=$!
  while ! python3 -c "import json,sys; sys.exit(json.load(open('$out/metrics.json'))['steps'] < 1100)" 2>/dev/null; do sleep 20; done
  kill $pid; wait $pid 2>/dev/null || true
  "${train[@]}" --max-steps 1400 --resume >> $out.log 2>&1
  .venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 --max-slices-per-plane 12 \
    --init-from $out/medpclip.safetensors --out ${out}_align --steps 3000 --batch-size 128 --seed 0 --threads 1 \
    --json > ${out}_align.log 2>&1
}
run 11 & run 12 & wait

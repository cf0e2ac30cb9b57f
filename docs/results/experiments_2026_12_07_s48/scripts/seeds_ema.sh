#!/usr/bin/env bash
# Session 48: the bundled default's own recipe (scripts/train_candidate_2026_12_05.sh: from the previous default
# b40b7ac5, 1100 steps of a 2000-step schedule, resumed to end at 1400, then re-aligned), unchanged, for seeds 12
# and 13, side by side, 1 thread each, with the weights' moving average kept as a shadow (--ema-decay 0.995: training
# itself is bit-for-bit the run without it, tested in Testing/test_weight_average.py). Each run gives two stage-1
# files: the plain weights (the recipe's own result for that seed) and their average. Both are aligned (stage 2);
# stage 3 (box output, click choice head; training patients only) and the README's held-out protocol run in finish.sh.
# usage: seeds_ema.sh   (writes runs/s48/seed{12,13}*)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
mkdir -p runs/s48
[ -f runs/previous_default.safetensors ] || git show 9399bda:Resources/Models/medpclip_tiny_default.safetensors > runs/previous_default.safetensors  # b40b7ac5
align() {  # $1 = stage-1 file, $2 = out
  .venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 --max-slices-per-plane 12 \
    --init-from $1 --out $2 --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > $2.log 2>&1
}
run() {  # $1 = seed
  local out=runs/s48/seed$1
  local train=(.venv/bin/medpclip train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0
    --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2
    --init-from runs/previous_default.safetensors --out $out --clip-weight 0 --correction-rounds 4
    --stroke-share 0.1 --warmup 30 --lr 1.5e-4 --batch-size 12 --seed $1 --threads 1 --save-every 100
    --ema-decay 0.995)
  "${train[@]}" --max-steps 2000 --max-minutes 1000 > $out.log 2>&1 &
  local pid=$!
  while ! python3 -c "import json,sys; sys.exit(json.load(open('$out/metrics.json'))['steps'] < 1100)" 2>/dev/null; do sleep 20; done
  kill $pid; wait $pid 2>/dev/null || true
  "${train[@]}" --max-steps 1400 --resume >> $out.log 2>&1
  align $out/medpclip.safetensors ${out}_plain_align
  align $out/medpclip_ema.safetensors ${out}_ema_align
}
run 12 & run 13 & wait

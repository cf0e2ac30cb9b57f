#!/bin/bash
# After the seed checks (align_size_jitter.sh): the bundled default re-aligned with / without --size-jitter 2
# (its own head continued, seed 0, the default's alignment recipe), named on the README's held-out items.
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f align_size_jitter.sh > /dev/null; do sleep 20; done
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
run() {  # name extra-args
  [ -f runs/s33/$1/medpclip.safetensors ] || .venv/bin/medpclip align --data ../shared/training,../shared/training/btcv_2d,Resources/SampleData \
    --holdout-patients $H --holdout-fraction 0 --max-slices-per-plane 12 $2 \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s33/$1 \
    --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > runs/s33/$1.log 2>&1
  [ -f runs/s33/bench_$1/results.json ] || .venv/bin/medpclip benchmark --data ../shared/training --patients $H --methods medpclip --no-3d --clicks 1 \
    --max-slices-per-case 4 --max-trials 6 --sam-repeats 0 --overlays 0 --threads 1 --checkpoint runs/s33/$1/medpclip.safetensors --out runs/s33/bench_$1 > runs/s33/bench_$1.log 2>&1
}
run re_sj "--size-jitter 2"
run re_0 ""
[ -f runs/s33/bench_default/results.json ] || .venv/bin/medpclip benchmark --data ../shared/training --patients $H --methods medpclip --no-3d --clicks 1 \
    --max-slices-per-case 4 --max-trials 6 --sam-repeats 0 --overlays 0 --threads 1 --out runs/s33/bench_default > runs/s33/bench_default.log 2>&1
echo done

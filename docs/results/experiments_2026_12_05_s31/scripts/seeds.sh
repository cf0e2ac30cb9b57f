#!/bin/bash
# align g15/g19 with seeds 1,2 (standard hold-out) and benchmark naming on the held-out patients
cd /work/main
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
run() {  # name features seed
  .venv/bin/medpclip align --data ../shared/training,../shared/training/btcv_2d,Resources/SampleData \
    --holdout-patients $H --holdout-fraction 0 --max-slices-per-plane 12 \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s31/$1 \
    --steps 3000 --batch-size 128 --seed $3 --threads 1 --json --geometry-features $2 > runs/s31/$1.log 2>&1
  .venv/bin/medpclip benchmark --data ../shared/training --patients $H --methods medpclip --no-3d --clicks 1 \
    --sam-repeats 0 --overlays 0 --threads 1 --checkpoint runs/s31/$1/medpclip.safetensors --out runs/s31/bench_$1 > runs/s31/bench_$1.log 2>&1
}
run g15s1 15 1 & run g19s1 19 1 & wait
run g15s2 15 2 & run g19s2 19 2 & wait
echo done

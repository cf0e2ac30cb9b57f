#!/bin/bash
# Shape figures for the naming geometry head: fresh heads reading 19 (ring) vs 21 (ring + shape) figures, seeds 0/1,
# standard hold-out (H) and with BRATS pat0005 held out too (HCV, benchmark on pat0005 + pat0006).
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
HCV=$H,brats_2013_pat0005_1
run() {  # name holdout seed features patients-to-benchmark
  [ -f runs/s41/shape/$1/medpclip.safetensors ] || .venv/bin/medpclip align --data ../shared/training,../shared/training/btcv_2d,Resources/SampleData \
    --holdout-patients $2 --holdout-fraction 0 --max-slices-per-plane 12 \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s41/shape/$1 \
    --steps 3000 --batch-size 128 --seed $3 --threads 1 --json --geometry-features $4 > runs/s41/shape/$1.log 2>&1
  [ -f runs/s41/shape/bench_$1/results.json ] || .venv/bin/medpclip benchmark --data ../shared/training --patients $5 --methods medpclip --no-3d --clicks 1 \
    --sam-repeats 0 --overlays 0 --threads 1 --checkpoint runs/s41/shape/$1/medpclip.safetensors --out runs/s41/shape/bench_$1 > runs/s41/shape/bench_$1.log 2>&1
}
F=$1
run cv${F}s0 $HCV 0 $F brats_2013_pat0005_1,brats_2013_pat0006_1
run h${F}s0 $H 0 $F $H
run cv${F}s1 $HCV 1 $F brats_2013_pat0005_1,brats_2013_pat0006_1
run h${F}s1 $H 1 $F $H
echo done

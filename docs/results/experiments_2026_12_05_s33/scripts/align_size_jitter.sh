#!/bin/bash
# Naming with the geometry head's size jitter (session 33, issue 13): the session-31 seed checks (fresh 15-figure
# head on the bundled model, seeds 0/1/2; standard hold-out, and BRATS pat0005 + pat0006 both held out) with
# --size-jitter $JITTER (default 2: each training region's area seen scaled by 1/2..2). Baselines: runs/s31/ttaon_g15*,
# the cv15 runs (docs/results/experiments_2026_12_05_s32/align_tumours_naming.md).
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
J=${JITTER:-2}; P=${PREFIX:-sj}
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
HCV=$H,brats_2013_pat0005_1
run() {  # name holdout seed patients-to-benchmark
  [ -f runs/s33/$1/medpclip.safetensors ] || .venv/bin/medpclip align --data ../shared/training,../shared/training/btcv_2d,Resources/SampleData \
    --holdout-patients $2 --holdout-fraction 0 --max-slices-per-plane 12 --size-jitter $J \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s33/$1 \
    --steps 3000 --batch-size 128 --seed $3 --threads 1 --json --geometry-features 15 > runs/s33/$1.log 2>&1
  [ -f runs/s33/bench_$1/results.json ] || .venv/bin/medpclip benchmark --data ../shared/training --patients $4 --methods medpclip --no-3d --clicks 1 \
    --sam-repeats 0 --overlays 0 --threads 1 --checkpoint runs/s33/$1/medpclip.safetensors --out runs/s33/bench_$1 > runs/s33/bench_$1.log 2>&1
}
run cv${P}0 $HCV 0 brats_2013_pat0005_1,brats_2013_pat0006_1
run ${P}0 $H 0 $H
run cv${P}1 $HCV 1 brats_2013_pat0005_1,brats_2013_pat0006_1
run cv${P}2 $HCV 2 brats_2013_pat0005_1,brats_2013_pat0006_1
run ${P}1 $H 1 $H
run ${P}2 $H 2 $H
echo done

#!/bin/bash
# Naming with synthetic tumours in the alignment (session 32): the s31 seed checks (fresh 15-figure head,
# seeds 0/1/2; standard hold-out, and BRATS pat0005 + pat0006 both held out) plus synthetic tumour images.
# CONTRAST=sequence PREFIX=sq: the same with FLAIR- / T1c-like tumours (runs cvsq0-2 and sq0 of RESULTS).
cd /work/main
CONTRAST=${CONTRAST:-random}; P=${PREFIX:-ts}
export OMP_WAIT_POLICY=PASSIVE
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
HCV=$H,brats_2013_pat0005_1
run() {  # name holdout seed patients-to-benchmark
  [ -f runs/s32/$1/medpclip.safetensors ] || .venv/bin/medpclip align --data ../shared/training,../shared/training/btcv_2d,Resources/SampleData \
    --holdout-patients $2 --holdout-fraction 0 --max-slices-per-plane 12 \
    --synth ../shared/training/synthseg_label_maps --synth-volumes 0 --synth-tumours ${TUMOURS:-2} --synth-tumour-contrast $CONTRAST \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s32/$1 \
    --steps 3000 --batch-size 128 --seed $3 --threads 1 --json --geometry-features 15 > runs/s32/$1.log 2>&1
  [ -f runs/s32/bench_$1/results.json ] || .venv/bin/medpclip benchmark --data ../shared/training --patients $4 --methods medpclip --no-3d --clicks 1 \
    --sam-repeats 0 --overlays 0 --threads 1 --checkpoint runs/s32/$1/medpclip.safetensors --out runs/s32/bench_$1 > runs/s32/bench_$1.log 2>&1
}
run ${P}0 $H 0 $H
run cv${P}0 $HCV 0 brats_2013_pat0005_1,brats_2013_pat0006_1
run ${P}1 $H 1 $H
run cv${P}1 $HCV 1 brats_2013_pat0005_1,brats_2013_pat0006_1
run ${P}2 $H 2 $H
run cv${P}2 $HCV 2 brats_2013_pat0005_1,brats_2013_pat0006_1
echo done

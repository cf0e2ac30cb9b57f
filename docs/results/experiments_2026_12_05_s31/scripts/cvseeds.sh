#!/bin/bash
# (the 15-figure seeds 1 and 2 of the same check: this script with "run cv15s1 15 1 & run cv15s2 15 2", no merge)
cd /work/main
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1,brats_2013_pat0005_1
run() {
  .venv/bin/medpclip align --data ../shared/training,../shared/training/btcv_2d,Resources/SampleData \
    --holdout-patients $H --holdout-fraction 0 --max-slices-per-plane 12 \
    --init-from Resources/Models/medpclip_tiny_default.safetensors --out runs/s31/$1 \
    --steps 3000 --batch-size 128 --seed $3 --threads 1 --json --geometry-features $2 > runs/s31/$1.log 2>&1
}
run cv19s1 19 1 & run cv19s2 19 2 & wait
.venv/bin/python runs/s31/soup.py runs/s31/cvsoup19/medpclip.safetensors runs/s31/cv19/medpclip.safetensors runs/s31/cv19s1/medpclip.safetensors runs/s31/cv19s2/medpclip.safetensors
for n in cv19s1 cv19s2 cvsoup19; do
.venv/bin/medpclip benchmark --data ../shared/training --patients brats_2013_pat0005_1,brats_2013_pat0006_1 --methods medpclip --no-3d --clicks 1 --sam-repeats 0 --overlays 0 --threads 1 --checkpoint runs/s31/$n/medpclip.safetensors --out runs/s31/benchcv_$n > runs/s31/benchcv_$n.log 2>&1 &
done; wait; echo done

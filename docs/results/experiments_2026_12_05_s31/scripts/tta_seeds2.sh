#!/bin/bash
cd /work/main
while pgrep -f "ttaon_g15s1|ttaoff_g15s1" > /dev/null; do sleep 5; done
H=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
C="--methods medpclip --no-3d --clicks 1 --sam-repeats 0 --overlays 0 --threads 1 --data ../shared/training"
one() {  # checkpoint patients out
  .venv/bin/python scripts/benchmark_with_policy.py "IDENTIFY_VIEW_ZOOMS=()" -- $C --patients $2 --checkpoint runs/s31/$1/medpclip.safetensors --out runs/s31/ttaoff_$3 > /dev/null 2>&1 &
  .venv/bin/medpclip benchmark $C --patients $2 --checkpoint runs/s31/$1/medpclip.safetensors --out runs/s31/ttaon_$3 > /dev/null 2>&1
  wait
}
one g15s2 $H g15s2
for ck in cv15 cv15s1 cv15s2; do one $ck brats_2013_pat0005_1,brats_2013_pat0006_1 $ck; done
echo done

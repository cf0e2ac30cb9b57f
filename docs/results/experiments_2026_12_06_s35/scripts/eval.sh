#!/usr/bin/env bash
# usage: runs/s35/eval.sh CHECKPOINT TAG [PATIENTS]: the stroke protocol and annotator scribbles (half / full ring)
set -euo pipefail
cd "$(dirname "$0")/../.."
CK=$1; TAG=$2
P=${3:-BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1}
B=(.venv/bin/medpclip benchmark --data ../shared/training --patients $P --threads 1 --checkpoint $CK)
"${B[@]}" --protocol strokes --out runs/s35/$TAG/strokes > runs/s35/$TAG.strokes.log 2>&1
"${B[@]}" --protocol scribbles --max-items 200 --out runs/s35/$TAG/scribbles_half > runs/s35/$TAG.half.log 2>&1
"${B[@]}" --protocol scribbles --max-items 200 --background-span 360 --out runs/s35/$TAG/scribbles_full > runs/s35/$TAG.full.log 2>&1
for f in strokes scribbles_half scribbles_full; do echo "== $TAG $f"; head -8 runs/s35/$TAG/$f/results.md; grep -i "ms" runs/s35/$TAG/$f/results.md | tail -1; done

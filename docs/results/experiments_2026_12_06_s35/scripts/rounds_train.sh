#!/usr/bin/env bash
# STROKE_ROUNDS 0 / 3 with the refinement (watershed), training patients: scribbles half ring and the stroke protocol
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAIN=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
for R in 3 0; do
  .venv/bin/python scripts/benchmark_with_policy.py "STROKE_ROUNDS=$R" -- --protocol scribbles --data ../shared/training --patients $TRAIN --max-items 400 --threads 1 --out runs/s35/train_r$R/scribbles_half > runs/s35/train_r$R.half.log 2>&1
  .venv/bin/python scripts/benchmark_with_policy.py "STROKE_ROUNDS=$R" -- --protocol strokes --data ../shared/training --patients $TRAIN --max-items 90 --threads 1 --out runs/s35/train_r$R/strokes > runs/s35/train_r$R.strokes.log 2>&1
done

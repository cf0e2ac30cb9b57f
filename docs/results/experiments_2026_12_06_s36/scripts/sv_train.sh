#!/usr/bin/env bash
# STROKE_VIEW_SCALE (None = the click's two passes) on training patients: the stroke protocol, then scribbles half ring
set -euo pipefail
cd "$(dirname "$0")/../.."
TRAIN=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
V=$1
.venv/bin/python scripts/benchmark_with_policy.py "STROKE_VIEW_SCALE=$V" -- --protocol strokes --data ../shared/training --patients $TRAIN --max-items 90 --threads 1 --out runs/s36/train_sv$V/strokes > runs/s36/train_sv$V.strokes.log 2>&1
.venv/bin/python scripts/benchmark_with_policy.py "STROKE_VIEW_SCALE=$V" -- --protocol scribbles --data ../shared/training --patients $TRAIN --max-items 400 --threads 1 --out runs/s36/train_sv$V/scribbles_half > runs/s36/train_sv$V.half.log 2>&1

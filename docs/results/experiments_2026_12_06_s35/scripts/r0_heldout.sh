#!/usr/bin/env bash
set -euo pipefail
cd /work/main
HO=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
.venv/bin/python scripts/benchmark_with_policy.py "STROKE_ROUNDS=0" -- --protocol strokes --data ../shared/training --patients $HO --threads 1 --out runs/s35/ho_r0/strokes > runs/s35/ho_r0.strokes.log 2>&1
.venv/bin/python scripts/benchmark_with_policy.py "STROKE_ROUNDS=0" -- --protocol scribbles --data ../shared/training --patients $HO --max-items 200 --threads 1 --out runs/s35/ho_r0/scribbles_half > runs/s35/ho_r0.half.log 2>&1
.venv/bin/python scripts/benchmark_with_policy.py "STROKE_ROUNDS=0" -- --protocol scribbles --data ../shared/training --patients $HO --max-items 200 --background-span 360 --threads 1 --out runs/s35/ho_r0/scribbles_full > runs/s35/ho_r0.full.log 2>&1

#!/usr/bin/env bash
set -euo pipefail
cd /work/main
.venv/bin/medpclip benchmark --protocol scribbles --data ../shared/training --patients BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1 --max-items 400 --threads 1 --checkpoint runs/s35/cand_strokes.safetensors --out runs/s35/cand_train/scribbles_half > runs/s35/cand_train.half.log 2>&1
.venv/bin/medpclip benchmark --protocol strokes --data ../shared/training --patients BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1 --max-items 90 --threads 1 --checkpoint runs/s35/cand_strokes.safetensors --out runs/s35/cand_train/strokes > runs/s35/cand_train.strokes.log 2>&1

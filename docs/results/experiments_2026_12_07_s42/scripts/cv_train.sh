#!/usr/bin/env bash
# usage: cv_train.sh TAG "POLICY=V" ...: the click protocol (5 clicks, no 3D), training patients
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
TRAIN=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
TAG=$1; shift 1
.venv/bin/python scripts/benchmark_with_policy.py "$@" -- --data ../shared/training --patients $TRAIN --max-slices-per-case 4 --max-trials 6 --clicks 5 --no-3d --first click --threads 1 --overlays 0 --methods medpclip --sam-repeats 0 --out runs/s42/$TAG > runs/s42/$TAG.log 2>&1

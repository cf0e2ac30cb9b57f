#!/usr/bin/env bash
# usage: eval.sh CKPT TAG: training patients' click protocol and, side by side, the held-out README protocol
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root; outputs go to runs/s43
export OMP_WAIT_POLICY=PASSIVE
CK=$1; TAG=$2
TRAIN=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
HP=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
.venv/bin/medpclip benchmark --data ../shared/training --patients $TRAIN --max-slices-per-case 4 --max-trials 6 --clicks 5 \
  --no-3d --first click --threads 1 --overlays 0 --methods medpclip --sam-repeats 0 --checkpoint $CK --out runs/s43/tr_$TAG \
  > runs/s43/tr_$TAG.log 2>&1 &
[ "${HELDOUT:-0}" = 1 ] && .venv/bin/medpclip benchmark --data ../shared/training --patients $HP --max-slices-per-case 4 \
  --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0 --checkpoint $CK \
  --out runs/s43/ho_$TAG > runs/s43/ho_$TAG.log 2>&1 &
wait

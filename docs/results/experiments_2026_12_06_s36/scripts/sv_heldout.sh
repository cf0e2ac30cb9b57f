#!/usr/bin/env bash
# usage: sv_heldout.sh TAG PART "POLICY=V" ...: held-out patients; PART strokes | half | full
set -euo pipefail
cd "$(dirname "$0")/../.."
P=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TAG=$1; PART=$2; shift 2
B=(.venv/bin/python scripts/benchmark_with_policy.py "$@" -- --data ../shared/training --patients $P --threads 1)
case $PART in
  strokes) "${B[@]}" --protocol strokes --out runs/s36/$TAG/strokes > runs/s36/$TAG.strokes.log 2>&1 ;;
  half) "${B[@]}" --protocol scribbles --max-items 200 --out runs/s36/$TAG/scribbles_half > runs/s36/$TAG.half.log 2>&1 ;;
  full) "${B[@]}" --protocol scribbles --max-items 200 --background-span 360 --out runs/s36/$TAG/scribbles_full > runs/s36/$TAG.full.log 2>&1 ;;
esac

#!/usr/bin/env bash
# The README's held-out protocol (MedP-CLIP only) on one checkpoint, then its per-structure change against the
# default's committed figures with today's engine (session 42, refine_skip_share_04.json).
# usage: heldout.sh CHECKPOINT OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
.venv/bin/medpclip benchmark --data ../shared/training \
  --patients BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1 --max-slices-per-case 4 \
  --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0 --checkpoint "$1" --out "$2" \
  > "$2.log" 2>&1
.venv/bin/python scripts/compare_benchmarks.py docs/results/experiments_2026_12_07_s42/heldout/refine_skip_share_04.json \
  "$2/results.json" > "$2.per_structure.txt"

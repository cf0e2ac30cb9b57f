#!/usr/bin/env bash
# usage: ho.sh TAG CHECKPOINT [--protocol strokes ...] -- "POLICY=V" ...: held-out patients, the README's protocol
set -euo pipefail
cd "$(dirname "$0")/../.."
HO=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TAG=$1; CK=$2; shift 2
EXTRA=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do EXTRA+=("$1"); shift; done; [ $# -gt 0 ] && shift
.venv/bin/python scripts/benchmark_with_policy.py "$@" -- --data ../shared/training --patients $HO --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0 --checkpoint $CK --out runs/s37/$TAG "${EXTRA[@]}" > runs/s37/$TAG.log 2>&1

#!/usr/bin/env bash
# Session 45's looks table (naming_under_looks.py) for the seed-12 and seed-13 fine-tunes and their 3-seed average.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
L=docs/results/experiments_2026_12_07_s45/scripts/naming_under_looks.py
O=docs/results/experiments_2026_12_07_s46
( CHECKPOINT=runs/s46/soup3_align/medpclip.safetensors THREADS=1 .venv/bin/python $L ../shared/training > $O/looks_soup3.txt 2> runs/s46/looks_soup3.log
  CHECKPOINT=runs/s46/wide_s13_align/medpclip.safetensors THREADS=1 .venv/bin/python $L ../shared/training > $O/looks_s13.txt 2> runs/s46/looks_s13.log ) &
CHECKPOINT=runs/s46/wide_s12_align/medpclip.safetensors THREADS=1 .venv/bin/python $L ../shared/training > $O/looks_s12.txt 2> runs/s46/looks_s12.log
wait

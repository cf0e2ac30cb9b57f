#!/bin/bash
# alternate None / 120 no-refine, 1 thread, machine otherwise idle
cd /work/main
for i in 1 2 3 4; do
  for v in None 120.0; do
    .venv/bin/python docs/results/experiments_2026_12_06_s37/scripts/bench_cv.py "CLICK_VIEW_MM=$v" "CLICK_VIEW_REFINE=False" -- --threads 1 > runs/s38/bench_${i}_${v}.json 2>> runs/s38/bench_err.log
  done
done

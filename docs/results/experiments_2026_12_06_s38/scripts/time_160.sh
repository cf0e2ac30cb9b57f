#!/bin/bash
# alternate None / 160 (the new default), 2 threads, machine otherwise idle
cd /work/main
for i in 1 2 3; do
  for v in None 160.0; do
    .venv/bin/python docs/results/experiments_2026_12_06_s37/scripts/bench_cv.py "CLICK_VIEW_MM=$v" -- --threads 2 > runs/s38/bench2t_${i}_${v}.json 2>> runs/s38/bench2t_err.log
  done
done

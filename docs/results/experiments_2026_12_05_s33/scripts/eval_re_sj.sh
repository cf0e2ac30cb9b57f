#!/bin/bash
# The re-aligned default with size jitter (runs/s33/re_sj): the README's held-out evaluation (clicks, box, one-click
# 3D, naming; as docs/results/experiments_2026_12_05_s32/scripts/finish_t.sh measured the default) and find.
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
PAT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
E="--data ../shared/training --patients $PAT --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0"
.venv/bin/medpclip benchmark $E --checkpoint runs/s33/re_sj/medpclip.safetensors --out runs/s33/eval_re_sj > runs/s33/eval_re_sj.log 2>&1
.venv/bin/python Testing/benchmarks/bench_find.py --checkpoint runs/s33/re_sj/medpclip.safetensors --out runs/s33/find_re_sj.json > runs/s33/find_re_sj.log 2>&1
.venv/bin/python Testing/benchmarks/bench_find.py --out runs/s33/find_default.json > runs/s33/find_default.log 2>&1
echo done

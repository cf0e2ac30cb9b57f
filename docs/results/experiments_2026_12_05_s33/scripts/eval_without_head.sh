#!/bin/bash
# The continued fine-tune (d), + random-contrast tumours (t), + FLAIR- / T1c-like tumours (tsequence), each with its
# box output but WITHOUT the click choice head fitted on it (runs/X_box3 = runs/X3 before scripts/fit_click_selector.py):
# the heads' own patient cross-validation on the training patients said they pick worse than the IoU head for these
# checkpoints (session 33). Same held-out evaluation as finish_t.sh.
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
PAT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
E="--data ../shared/training --patients $PAT --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0"
for n in d t tsequence; do
  [ -f runs/s33/eval_${n}_box3/results.json ] || .venv/bin/medpclip benchmark $E --checkpoint runs/${n}_box3.safetensors --out runs/s33/eval_${n}_box3 > runs/s33/eval_${n}_box3.log 2>&1 &
  [ $n = t ] && wait
done
wait
echo done

#!/usr/bin/env bash
# Session 48, after seeds_ema.sh: stage 3 of the recipe for the four aligned files (session 46's stage3.sh: box
# output and first clicks on training patients only), the box output with the highest dataset-averaged box Dice@1
# there, the click choice head fitted as in scripts/train_candidate_2026_12_05.sh, then the README's held-out
# protocol for each final file; two files at a time.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
S46=docs/results/experiments_2026_12_07_s46/scripts
O=docs/results/experiments_2026_12_07_s48
mkdir -p $O/stage3 $O/heldout
stage3() {  # $1 = name, e.g. seed12_plain
  local N=s48_$1
  $S46/stage3.sh runs/s48/$1_align/medpclip.safetensors $N > $O/stage3/$1.txt 2>&1
  local best
  best=$(.venv/bin/python - "$N" <<'PY'
import json, sys
n = sys.argv[1]
scores = {k: json.load(open(f"runs/s46/choose_{n}_box{k}/results.json"))["dataset_average"]["methods"]["medpclip"]["box"]["dice@1"]
          for k in (0, 2, 3)}
print(max(scores, key=lambda k: (scores[k], -k)))
PY
)
  echo "box output chosen on training patients: $best" >> $O/stage3/$1.txt
  .venv/bin/python scripts/fit_click_selector.py runs/s46/fc_train_$N.npz --features token --l2 0.01 --margin 0.8 \
    --base runs/s46/${N}_box$best.safetensors --out runs/s48/$1_final.safetensors > $O/stage3/$1_click_choice_fit.txt 2>&1
  $S46/heldout.sh runs/s48/$1_final.safetensors $O/heldout/$1
}
for s in 12 13; do
  stage3 seed${s}_plain & stage3 seed${s}_ema & wait
done

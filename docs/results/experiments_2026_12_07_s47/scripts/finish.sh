#!/usr/bin/env bash
# Session 47, after full_wide.sh: stage 3 of the recipe for both seeds (session 46's stage3.sh: box output and
# first clicks on training patients only), the box output with the highest dataset-averaged box Dice@1 there, the
# click choice head fitted as in scripts/train_candidate_2026_12_05.sh, then the README's held-out protocol and
# session 45's looks table for each final file, two processes side by side.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_WAIT_POLICY=PASSIVE
S46=docs/results/experiments_2026_12_07_s46/scripts
O=docs/results/experiments_2026_12_07_s47
mkdir -p $O/stage3 $O/heldout
for s in 11 12; do
  N=full_wide_s$s
  $S46/stage3.sh runs/s47/${N}_align/medpclip.safetensors $N > $O/stage3/$N.txt 2>&1
  best=$(.venv/bin/python - "$N" <<'PY'
import json, sys
n = sys.argv[1]
scores = {k: json.load(open(f"runs/s46/choose_{n}_box{k}/results.json"))["dataset_average"]["methods"]["medpclip"]["box"]["dice@1"]
          for k in (0, 2, 3)}
print(max(scores, key=lambda k: (scores[k], -k)))
PY
)
  echo "box output chosen on training patients: $best" >> $O/stage3/$N.txt
  .venv/bin/python scripts/fit_click_selector.py runs/s46/fc_train_$N.npz --features token --l2 0.01 --margin 0.8 \
    --base runs/s46/${N}_box$best.safetensors --out runs/s47/${N}_final.safetensors > $O/stage3/${N}_click_choice_fit.txt 2>&1
done
H=$S46/heldout.sh
L=docs/results/experiments_2026_12_07_s45/scripts/naming_under_looks.py
( $H runs/s47/full_wide_s11_final.safetensors $O/heldout/full_wide_s11
  CHECKPOINT=runs/s47/full_wide_s11_final.safetensors THREADS=1 .venv/bin/python $L ../shared/training > $O/looks_full_wide_s11.txt 2> runs/s47/looks_s11.log ) &
( $H runs/s47/full_wide_s12_final.safetensors $O/heldout/full_wide_s12
  CHECKPOINT=runs/s47/full_wide_s12_final.safetensors THREADS=1 .venv/bin/python $L ../shared/training > $O/looks_full_wide_s12.txt 2> runs/s47/looks_s12.log ) &
wait

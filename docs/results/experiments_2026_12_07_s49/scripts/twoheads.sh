#!/usr/bin/env bash
# Session 49: each view's click choice head fitted on clicks recorded in that view (body's view first, then the
# click's view with the body head in place), margins chosen by patient cross-validation; then the held-out protocol.
# usage: twoheads.sh NAME FINAL_CHECKPOINT [keep-body]   (keep-body: keep the file's body head, fit the click head only)
set -euo pipefail
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
N=$1; BASE=$2; MODE=${3:-}
O=runs/s49/$N; mkdir -p $O
TRAIN=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
rec() {  # $1 checkpoint $2 view
  .venv/bin/python scripts/record_first_clicks.py --data ../shared/training --patients $TRAIN --max-slices-per-case 8 \
    --random-clicks 2 --threads 1 --view $2 --checkpoint $1 --out $O/fc_train_$2.npz > $O/fc_train_$2.log 2>&1
}
fit() {  # $1 base $2 view $3 out
  .venv/bin/python scripts/fit_click_selector.py $O/fc_train_$2.npz --features token --l2 0.01 --margin 0,0.2,0.4,0.6,0.8 \
    --base $1 --out $3 > $O/fit_$2.txt 2>&1
}
if [ "$MODE" = keep-body ]; then
  B=$BASE
else
  .venv/bin/python - "$BASE" "$O/noheads.safetensors" <<'PY'
import sys, torch
from medpclip.model.checkpoint import load_checkpoint, save_checkpoint
c = load_checkpoint(sys.argv[1])
for h in (c.model.click_choice, c.model.click_view_choice):
    torch.nn.init.zeros_(h.proj.weight); torch.nn.init.zeros_(h.proj.bias); h.margin.zero_()
save_checkpoint(c, sys.argv[2])
PY
  rec $O/noheads.safetensors body
  fit $O/noheads.safetensors body $O/body.safetensors
  B=$O/body.safetensors
fi
rec $B click
fit $B click $O/final.safetensors
docs/results/experiments_2026_12_07_s46/scripts/heldout.sh $O/final.safetensors $O/heldout
echo done

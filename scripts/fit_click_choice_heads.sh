#!/usr/bin/env bash
# Stage 3 of a training recipe: fit a checkpoint's two click choice heads on its training patients' first clicks
# (model/click_choice.py; docs/DESIGN-NOTES.md "Which multimask output answers a click"). Both heads are cleared, the
# body view's pass is recorded and its head fitted, then the click view's pass is recorded with that head in place
# and its head fitted; each head's margin is chosen by patient cross-validation (fit_click_selector.py --margin).
# usage: scripts/fit_click_choice_heads.sh CHECKPOINT OUT_DIR [PATIENTS]
#   PATIENTS: comma-separated training patients (meta.json "patient"; default: the bundled file's BTCV and BRATS training patients)
#   MEDPCLIP_TRAINING_POOL: the data root holding them (default ../shared/training); THREADS: torch threads (1)
#   writes OUT_DIR/{noheads,body,final}.safetensors, the records, and fit_{body,click}.txt
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 CHECKPOINT OUT_DIR [PATIENTS]" >&2; exit 2; }
[ -f "$1" ] || { echo "ERROR: $0: no checkpoint at $1" >&2; exit 2; }
CKPT=$(realpath "$1"); OUT=$(realpath -m "$2")  # paths as the caller gave them, before moving to the repository
PATIENTS=${3:-BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1}
DATA=$(realpath -m "${MEDPCLIP_TRAINING_POOL:-$(dirname "$0")/../../shared/training}")
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
"$PY" - "$CKPT" "$OUT/noheads.safetensors" <<'PY'
import sys, torch
from medpclip.model.checkpoint import load_checkpoint, save_checkpoint
ckpt = load_checkpoint(sys.argv[1])
for head in (ckpt.model.click_choice, ckpt.model.click_view_choice):
    torch.nn.init.zeros_(head.proj.weight)
    torch.nn.init.zeros_(head.proj.bias)
    head.margin.zero_()
save_checkpoint(ckpt, sys.argv[2])
PY
base=$OUT/noheads.safetensors
for view in body click; do
  out=$OUT/body.safetensors; [ $view = click ] && out=$OUT/final.safetensors
  "$PY" scripts/record_first_clicks.py --data "$DATA" --patients "$PATIENTS" --max-slices-per-case 8 --random-clicks 2 \
    --threads "${THREADS:-1}" --view $view --checkpoint "$base" --out "$OUT/fc_train_$view.npz" > "$OUT/fc_train_$view.log" 2>&1
  "$PY" scripts/fit_click_selector.py "$OUT/fc_train_$view.npz" --features token --l2 0.01 --margin 0,0.2,0.4,0.6,0.8 \
    --base "$base" --out "$out" > "$OUT/fit_$view.txt" 2>&1
  base=$out
done
echo "wrote $OUT/final.safetensors"

#!/usr/bin/env bash
# Patient-level figures of the README, the model card and docs/RESULTS.md: the patients held out of training
# (scripts/train_patient_level.sh), every labelled slice (at most 4 per case, the 6 largest structures each),
# 5 interactions, MedP-CLIP vs GrowCut ("Grow from seeds") and region growing on the same clicks, and one-click 3D.
# The first release is measured on the same items as shipped: its checkpoint (commit f192250) with whole-slice views.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PATIENTS=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
COMMON=(--data ../shared/training --patients $PATIENTS --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1
        --overlays 2)
mkdir -p runs
[ -f runs/release1.safetensors ] || git show f192250:Resources/Models/medpclip_tiny_default.safetensors > runs/release1.safetensors
.venv/bin/medpclip benchmark "${COMMON[@]}" --checkpoint Resources/Models/medpclip_tiny_default.safetensors \
  --out docs/results/patient_level "$@"
.venv/bin/medpclip benchmark "${COMMON[@]}" --checkpoint runs/release1.safetensors --views whole --methods medpclip \
  --out docs/results/patient_level_release1 "$@"

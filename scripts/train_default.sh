#!/usr/bin/env bash
# How Resources/Models/medpclip_tiny_default.safetensors was made (see Resources/Models/MODEL_CARD.md).
# Two stages on this project's 2-core CPU machine, single process, 1 torch thread (other work shared the CPU):
#   stage 1 at commit 4777ad6 (model without the region-pooling path), stopped after 600 steps;
#   stage 2 at commit 3eda751 (region pooling added), initialised from stage 1's weights (matching tensors),
#   new tensors from their initialisation, fresh optimiser, 50 warm-up steps, cosine schedule to 1900 steps or
#   80 minutes, whichever came first.
#   stage 3 (`medpclip align`, commit after 3eda751): region-text alignment of the recognition heads on the
#   frozen stage-2 model (the contrastive part learns far slower than the masks on four volumes; see the card).
# Running stage 2 from scratch (drop --init-from) and then stage 3 reproduces the recipe with the current code.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
if [ "${1:-}" = "--stage1" ]; then  # needs the code of commit 4777ad6
  .venv/bin/medpclip train --data Resources/SampleData --config tiny --out runs/default --max-steps 2400 \
    --batch-size 12 --planes axial,coronal,sagittal --seed 0 --threads 1 --max-minutes 88 --save-every 100 --json
  exit 0
fi
.venv/bin/medpclip train --data Resources/SampleData --config tiny --out runs/default \
  --init-from runs/stage1_step600.safetensors --max-steps 1900 --warmup 50 --batch-size 12 \
  --planes axial,coronal,sagittal --seed 1 --threads 1 --max-minutes 80 --save-every 100 --json
.venv/bin/medpclip align --data Resources/SampleData --init-from runs/default/medpclip.safetensors --out runs/aligned \
  --steps 3000 --batch-size 128 --seed 0 --threads 2 --json
cp runs/aligned/medpclip.safetensors Resources/Models/medpclip_tiny_default.safetensors
.venv/bin/medpclip evaluate --data Resources/SampleData --checkpoint Resources/Models/medpclip_tiny_default.safetensors \
  --clicks 9 --out docs/results/heldout_eval.json --json

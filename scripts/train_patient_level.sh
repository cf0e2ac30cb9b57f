#!/usr/bin/env bash
# How the patient-level default checkpoint (Resources/Models/medpclip_tiny_default.safetensors, see its model card)
# is made: fine-tuned from the first release's checkpoint (commit f192250) on the training pool
# (../shared/training: BTCV 2D CT slices, BRATS FLAIR / T1c, the full TotalSegmentator example CT, SynthSeg-style
# synthetic brains from its label maps) plus the bundled sample volumes, in prompt-centred views
# (medpclip.training.sample_bank) with domain randomisation, whole patients held out for evaluation; then the
# recognition heads are aligned on the frozen model (stage 2, `medpclip align`).
# 2-core CPU, single process, 1 torch thread (other work shared the CPU).
#   scripts/train_patient_level.sh            stage 1 + stage 2
#   scripts/train_patient_level.sh --resume   continue an interrupted stage 1, then stage 2
#   scripts/train_patient_level.sh --align    stage 2 only
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
mkdir -p runs
[ -f runs/release1.safetensors ] || git show f192250:Resources/Models/medpclip_tiny_default.safetensors > runs/release1.safetensors
if [ "${1:-}" != "--align" ]; then
  .venv/bin/medpclip train --data $DATA --holdout-patients $HOLDOUT \
    --holdout-fraction 0 --planes axial,coronal,sagittal --max-slices-per-plane 40 \
    --synth $POOL/synthseg_label_maps --synth-volumes 2 \
    --init-from runs/release1.safetensors --out runs/patient_v2 \
    --max-steps 1200 --warmup 50 --lr 3e-4 --batch-size 12 --seed 2 --threads 1 --max-minutes 95 \
    --save-every 50 ${1:+$1}
fi
.venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
  --max-slices-per-plane 12 \
  --init-from runs/patient_v2/medpclip.safetensors --out runs/align_v3 \
  --steps 3000 --batch-size 128 --seed 0 --threads 1 --json
# the bundled file: cp runs/align_v3/medpclip.safetensors Resources/Models/medpclip_tiny_default.safetensors

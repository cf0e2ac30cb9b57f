#!/usr/bin/env bash
# Experiment of 2026-12-05 (session 32, issue 12): does training on synthetic brain tumours (drawn into the
# SynthSeg label maps, medpclip.data.tumour_synth) help brain-tumour sub-regions on an unseen patient?
# The same recipe as the "continued fine-tune" control of docs/RESULTS.md (runs/d_cr4: stage 1 of the bundled
# default, 1200 more steps, lr 1e-4, seed 12) plus --synth-tumours 2 --synth-tumour-share 0.1; then stages 2-3 of
# scripts/train_candidate_2026_12_05.sh (alignment, box output chosen on training patients, click choice head).
# 2-core CPU, 1 torch thread per process. Whole patients held out. Resumable: re-run the script.
# The measured run (2026-12-05, session 32) drew its tumours with the code of commit 9b04671 except one edge case
# added in that commit before it was made: an enhancing rim under MIN_VOXELS (30) voxels was left undrawn instead of
# joining the non-enhancing core. Stage 3b and the evaluation: docs/results/experiments_2026_12_05_s32/scripts/finish_t.sh.
# Result: not adopted, with either contrast (docs/RESULTS.md, sessions 32 (random) and 33 (CONTRAST=sequence)).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
# CONTRAST=sequence runs the second variant (session 32: FLAIR- / T1c-like sub-regions instead of random ones) into
# runs/tseq_* (everything else identical); CONTRAST=random (default) is the measured first variant.
CONTRAST=${CONTRAST:-random}
TAG=t; [ "$CONTRAST" = random ] || TAG=t$CONTRAST
OUT=runs/${TAG}_cr4
STAGE1_INIT=${STAGE1_INIT:-runs/cr4_box0/medpclip.safetensors}   # stage 1 of the bundled default (scripts/train_candidate_2026_12_05.sh)
RESUME=()
[ -f $OUT/trainer_state.safetensors ] && RESUME=(--resume)
if ! python3 -c "import json,sys; sys.exit(json.load(open('$OUT/metrics.json'))['steps'] < 1200)" 2>/dev/null; then
  .venv/bin/medpclip train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 \
    --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2 \
    --synth-tumours 2 --synth-tumour-share 0.1 --synth-tumour-contrast $CONTRAST \
    --init-from $STAGE1_INIT --out $OUT --clip-weight 0 --correction-rounds 4 --stroke-share 0.1 \
    --warmup 30 --lr 1e-4 --batch-size 12 --seed 12 --threads 1 --save-every 100 --max-steps 1200 "${RESUME[@]}"
fi
# stage 2: region-text alignment on the frozen model
[ -f runs/${TAG}_align/medpclip.safetensors ] || .venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT \
  --holdout-fraction 0 --max-slices-per-plane 12 --init-from $OUT/medpclip.safetensors --out runs/${TAG}_align \
  --steps 3000 --batch-size 128 --seed 0 --threads 1 --json > runs/${TAG}_align.json
# stage 3a: which output answers a box alone, on the training patients' boxes (box Dice@1)
for k in 0 2 3; do
  [ -f runs/choose_${TAG}_box$k/results.json ] && continue
  .venv/bin/python scripts/set_box_output.py --output $k --base runs/${TAG}_align/medpclip.safetensors --out runs/${TAG}_box$k.safetensors
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint runs/${TAG}_box$k.safetensors --out runs/choose_${TAG}_box$k
done

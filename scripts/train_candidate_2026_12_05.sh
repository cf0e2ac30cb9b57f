#!/usr/bin/env bash
# How the candidate checkpoint of 2026-12-05 (sha256 07dd0961...; the bundled default
# Resources/Models/medpclip_tiny_default.safetensors since 2026-12-05: docs/RESULTS.md "Candidate of 2026-12-05")
# was made from the previous default (sha256 b40b7ac5...): a mask-only fine-tune with up to 4 simulated correction clicks per step and
# 10 % stroke samples (stage 1), the recognition heads re-aligned on the frozen result (stage 2), the output that
# answers a box alone and the click choice head re-chosen on training patients (stage 3). Whole patients held out.
# 2-core CPU, 1 torch thread per process. Stage 1 ran 1100 steps with --max-steps 2000 (another run shared the
# CPU), was stopped and resumed with --max-steps 1400 (its cosine schedule shortened to end there): this script
# does the same (stage 1a stops the run once its step-1100 checkpoint is saved).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
HOLDOUT=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
TRAIN_PATIENTS=BTCV_001,BTCV_002,BTCV_003,BTCV_004,BTCV_005,BTCV_006,BTCV_007,BTCV_021,BTCV_022,BTCV_023,BTCV_024,BTCV_025,BTCV_026,BTCV_027,brats_2013_pat0003_1,brats_2013_pat0004_1,brats_2013_pat0005_1
POOL=../shared/training
DATA=$POOL,$POOL/btcv_2d,Resources/SampleData
mkdir -p runs
[ -f runs/previous_default.safetensors ] || git show 9399bda:Resources/Models/medpclip_tiny_default.safetensors > runs/previous_default.safetensors  # b40b7ac5
TRAIN=(.venv/bin/medpclip train --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0
       --planes axial,coronal,sagittal --max-slices-per-plane 40 --synth $POOL/synthseg_label_maps --synth-volumes 2
       --init-from runs/previous_default.safetensors --out runs/cr4_box0 --clip-weight 0 --correction-rounds 4
       --stroke-share 0.1 --warmup 30 --lr 1.5e-4 --batch-size 12 --seed 11 --threads 1 --save-every 100)
# stage 1a: 1100 steps of the 2000-step schedule (then stop; the checkpoint of step 1100 is kept)
"${TRAIN[@]}" --max-steps 2000 --max-minutes 1000 &
pid=$!
while ! python3 -c "import json,sys; sys.exit(json.load(open('runs/cr4_box0/metrics.json'))['steps'] < 1100)" 2>/dev/null; do sleep 20; done
kill $pid; wait $pid 2>/dev/null || true
# stage 1b: resume at 1100, schedule ending at 1400
"${TRAIN[@]}" --max-steps 1400 --resume
# stage 2: region-text alignment on the frozen model
.venv/bin/medpclip align --data $DATA --holdout-patients $HOLDOUT --holdout-fraction 0 --max-slices-per-plane 12 \
  --init-from runs/cr4_box0/medpclip.safetensors --out runs/c_align --steps 3000 --batch-size 128 --seed 0 --threads 1 --json
# stage 3a: which output answers a box alone, on the training patients' boxes (box Dice@1; chosen: 3)
for k in 0 2 3; do
  .venv/bin/python scripts/set_box_output.py --output $k --base runs/c_align/medpclip.safetensors --out runs/c_box$k.safetensors
  .venv/bin/medpclip benchmark --data $POOL --patients $TRAIN_PATIENTS --methods medpclip --first box --clicks 1 --no-3d \
    --max-slices-per-case 4 --max-trials 6 --threads 1 --overlays 0 --sam-repeats 0 \
    --checkpoint runs/c_box$k.safetensors --out runs/choose_c_box$k
done
# stage 3b: the click choice head, recorded and fitted on the training patients only
.venv/bin/python scripts/record_first_clicks.py --data $POOL --patients $TRAIN_PATIENTS --max-slices-per-case 8 \
  --random-clicks 2 --threads 1 --checkpoint runs/cr4_box0/medpclip.safetensors --out runs/fc_train_c.npz
.venv/bin/python scripts/fit_click_selector.py runs/fc_train_c.npz --features token --l2 0.01 --margin 0.8 \
  --base runs/c_box3.safetensors --out runs/c3.safetensors
# the candidate file: runs/c3.safetensors plus the provenance key release_2026_12_05 (these commands)

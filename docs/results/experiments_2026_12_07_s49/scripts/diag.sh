#!/usr/bin/env bash
# diagnostic: held-out BTCV first clicks, each multimask output forced, three seeds of the default recipe
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
P=BTCV_009,BTCV_010,BTCV_028,BTCV_029,BTCV_030,brats_2013_pat0006_1
rec() { .venv/bin/python scripts/record_first_clicks.py --data ../shared/training --patients $P --max-slices-per-case 4 \
  --random-clicks 0 --threads 1 --checkpoint $1 --out runs/s49/fc_heldout_$2.npz > runs/s49/fc_heldout_$2.log 2>&1; }
rec Resources/Models/medpclip_tiny_default.safetensors s11 &
rec runs/s48/seed12_plain_final.safetensors s12 &
wait
rec runs/s48/seed13_plain_final.safetensors s13

#!/usr/bin/env bash
cd /work/main
runs/s49/twoheads.sh s11 Resources/Models/medpclip_tiny_default.safetensors > runs/s49/th_s11.log 2>&1 &
runs/s49/twoheads.sh s12 runs/s48/seed12_plain_final.safetensors > runs/s49/th_s12.log 2>&1 &
wait
runs/s49/twoheads.sh s13 runs/s48/seed13_plain_final.safetensors > runs/s49/th_s13.log 2>&1 &
runs/s49/twoheads.sh s11keep Resources/Models/medpclip_tiny_default.safetensors keep-body > runs/s49/th_s11keep.log 2>&1 &
wait

#!/usr/bin/env bash
# after run_twoheads.sh: session 47's two wider-looks files with both heads fitted the same way
cd /work/main
while ! grep -q '^done' runs/s49/th_s13.log 2>/dev/null; do sleep 20; done
runs/s49/twoheads.sh w11 runs/s47/full_wide_s11_final.safetensors > runs/s49/th_w11.log 2>&1 &
runs/s49/twoheads.sh w12 runs/s47/full_wide_s12_final.safetensors > runs/s49/th_w12.log 2>&1 &
wait

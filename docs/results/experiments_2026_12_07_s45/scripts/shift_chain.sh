set -x
cd /work/main
B=".venv/bin/medpclip benchmark --max-slices-per-case 4 --max-trials 6 --clicks 5 --threads 1 --overlays 0 --methods medpclip --sam-repeats 0"
T=".venv/bin/medpclip train --holdout-fraction 0 --planes axial --init-from Resources/Models/medpclip_tiny_default.safetensors --max-steps 200 --batch-size 4 --lr 1e-4 --seed 0 --threads 1 --save-every 50 --json"
DEC="--trainable mask_decoder,neck --clip-weight 0 --correction-rounds 4"
$B --data /tmp/shift/testA --patients BTCV_029,BTCV_030 --out runs/s45/shift_base_testA > runs/s45/shift_base_testA.log 2>&1
$T --data /tmp/shift/A --out runs/s45/shiftA_dec $DEC > runs/s45/shiftA_dec.log 2>&1
$B --data /tmp/shift/testA --patients BTCV_029,BTCV_030 --checkpoint runs/s45/shiftA_dec/medpclip.safetensors --out runs/s45/shiftA_dec_test > runs/s45/shiftA_dec_test.log 2>&1
$T --data /tmp/shift/A --out runs/s45/shiftA_all > runs/s45/shiftA_all.log 2>&1
$B --data /tmp/shift/testA --patients BTCV_029,BTCV_030 --checkpoint runs/s45/shiftA_all/medpclip.safetensors --out runs/s45/shiftA_all_test > runs/s45/shiftA_all_test.log 2>&1
$B --data /tmp/shift/testB --patients BTCV_009,BTCV_010 --out runs/s45/shift_base_testB > runs/s45/shift_base_testB.log 2>&1
$T --data /tmp/shift/B --out runs/s45/shiftB_dec $DEC > runs/s45/shiftB_dec.log 2>&1
$B --data /tmp/shift/testB --patients BTCV_009,BTCV_010 --checkpoint runs/s45/shiftB_dec/medpclip.safetensors --out runs/s45/shiftB_dec_test > runs/s45/shiftB_dec_test.log 2>&1
$T --data /tmp/shift/B --out runs/s45/shiftB_all > runs/s45/shiftB_all.log 2>&1
$B --data /tmp/shift/testB --patients BTCV_009,BTCV_010 --checkpoint runs/s45/shiftB_all/medpclip.safetensors --out runs/s45/shiftB_all_test > runs/s45/shiftB_all_test.log 2>&1
echo CHAIN DONE

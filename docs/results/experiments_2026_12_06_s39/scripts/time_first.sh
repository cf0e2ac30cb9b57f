#!/bin/bash
cd /work/main
for i in 1 2 3; do
  PYTHONPATH=/tmp/oldtree/MedPCLIPExtension .venv/bin/python runs/s39/first_clicks.py > runs/s39/first_old_$i.json 2>>runs/s39/bench_err.log
  .venv/bin/python runs/s39/first_clicks.py > runs/s39/first_new_$i.json 2>>runs/s39/bench_err.log
done

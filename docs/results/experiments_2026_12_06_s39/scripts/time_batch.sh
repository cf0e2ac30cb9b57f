#!/bin/bash
# alternate HEAD (a6eba4f, sequential passes) / working tree (batched views), 2 threads, machine otherwise idle
cd /work/main
for i in 1 2 3; do
  PYTHONPATH=/tmp/oldtree/MedPCLIPExtension .venv/bin/python /tmp/oldtree/Testing/benchmarks/bench_engine.py --threads 2 > runs/s39/bench_old_$i.json 2>>runs/s39/bench_err.log
  .venv/bin/python Testing/benchmarks/bench_engine.py --threads 2 > runs/s39/bench_new_$i.json 2>>runs/s39/bench_err.log
done

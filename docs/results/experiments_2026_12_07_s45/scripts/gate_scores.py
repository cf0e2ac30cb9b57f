"""What the fine-tune's check (``medpclip.evaluation.validation``) says of a fine-tuned checkpoint against the
bundled default on a folder of labelled cases (here the other held-out patients of a site fold). Not a test.

    .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/gate_scores.py CHECKPOINT CASES_FOLDER
"""
import json
import sys
import time

from medpclip.data.datalist import load_cases
from medpclip.evaluation.validation import decide, score_checkpoints

specs = load_cases(sys.argv[2])
t0 = time.perf_counter()
served, finetuned = score_checkpoints(["Resources/Models/medpclip_tiny_default.safetensors", sys.argv[1]], specs, 1)
print(json.dumps({"checkpoint": sys.argv[1], "cases": sys.argv[2], "served": served.as_dict(),
                  "finetuned": finetuned.as_dict(), "decision": decide(served, finetuned),
                  "seconds": round(time.perf_counter() - t0, 1)}))

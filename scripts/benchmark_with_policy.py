"""`medpclip benchmark` with engine rules overridden (``engine/policy.py``), for measuring a rule before it is
changed. Not a test.

    .venv/bin/python scripts/benchmark_with_policy.py "MERGE_CORRECTIONS=(1,)" STOP_SCORE=0.5 -- \
        --data ../shared/training --patients BTCV_001 --methods medpclip --no-3d --out runs/x
"""

from __future__ import annotations

import ast
import logging
import sys

import medpclip.engine.policy as policy
from medpclip.cli import main

log = logging.getLogger("benchmark_with_policy")


def apply_overrides(pairs: list[str]) -> None:
    """NAME=VALUE (a Python literal) for each pair; an unknown NAME is an error."""
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not hasattr(policy, name):
            raise SystemExit(f"engine/policy.py has no rule {name!r}")
        setattr(policy, name, ast.literal_eval(value))
        log.warning("policy %s = %r", name, getattr(policy, name))


if __name__ == "__main__":
    if "--" not in sys.argv:
        raise SystemExit(__doc__)
    cut = sys.argv.index("--")
    apply_overrides(sys.argv[1:cut])
    sys.exit(main(["benchmark"] + sys.argv[cut + 1:]))

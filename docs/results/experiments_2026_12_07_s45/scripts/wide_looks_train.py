"""Train (or align) with a wider intensity look for CT than ``training/augment.py`` gives, then pass the rest of the
command line to ``medpclip`` (``train`` or ``align``). WIDE=1: another window with contrast 0.6-1.6x and level
+-0.15 around mid-grey, and gamma 0.5-2, each on half the CT samples; WIDE=0: the standard augmentation (the
control run, same script). Not a test; session 45's experiment.

    WIDE=1 .venv/bin/python docs/results/experiments_2026_12_07_s45/scripts/wide_looks_train.py train ...
"""
import math
import os
import random
import sys

import torch

from medpclip.training import align, augment

standard = augment.domain_randomise


def wide_domain_randomise(image: torch.Tensor, modality: str, rng: random.Random) -> torch.Tensor:
    x = standard(image, modality, rng)
    if modality.upper() == "CT" and rng.random() < 0.5:  # another export window about mid-grey, and a level
        contrast = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))
        x = ((x - 0.5) * contrast + 0.5 + rng.uniform(-0.15, 0.15)).clamp(0, 1)
    if modality.upper() == "CT" and rng.random() < 0.5:
        x = x.clamp(0, 1) ** math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    return x


if os.environ.get("WIDE") == "1":
    augment.domain_randomise = wide_domain_randomise
    align.domain_randomise = wide_domain_randomise

from medpclip.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))

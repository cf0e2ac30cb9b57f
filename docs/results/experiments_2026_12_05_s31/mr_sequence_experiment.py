"""(Session 31 experiment, not adopted: the file medpclip/data/mr_sequence.py that mr_sequence_experiment.patch
used.) Which MR sequence an image is, from what its files say (meta.json ``sequence``, a DICOM series description,
a file name)."""

from __future__ import annotations

import re

SEQUENCES = ("FLAIR", "T1", "T1C", "T2")   # the groups the recognition head tells apart; anything else: unknown

# checked in this order: FLAIR images are T2-weighted, and post-contrast T1 names contain "T1"
_PATTERNS = (
    ("FLAIR", r"flair|tirm|dark[\s_-]?fluid"),
    ("T1C", r"t1[\s_-]?(c|ce|gd|post|contrast|\+c)\b|t1[\s_-]?(c|ce|gd)[\s_-]|post[\s_-]?(contrast|gd)|\bgad"),
    ("T1", r"t1|mprage|spgr|bravo"),
    ("T2", r"t2"),
)


def mr_sequence(text: str | None) -> str | None:
    """A free-text description ("FLAIR", "t1ce", "AX T2 FSE", "brats_pat0006_t1c") -> one of ``SEQUENCES`` or
    None when it names none of them."""
    if not text:
        return None
    low = text.lower()
    for name, pattern in _PATTERNS:
        if re.search(pattern, low):
            return name
    return None

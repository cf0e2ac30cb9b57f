"""Frozen sentence features for every concept's template sentences (computed once per run)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..data.vocabulary import Concept, all_concepts, global_sentence, sentences
from ..model.text import shared_text_encoder

log = logging.getLogger(__name__)


@dataclass
class TextBank:
    concepts: list[dict[str, str]]            # [{"id", "name"}]
    features: list[torch.Tensor]              # per concept (n_sentences, text_dim)

    def index(self) -> dict[str, int]:
        return {c["id"]: i for i, c in enumerate(self.concepts)}

    def sample(self, rng: random.Random) -> torch.Tensor:
        """One random sentence per concept -> (C, text_dim)."""
        return torch.stack([f[rng.randrange(f.shape[0])] for f in self.features])

    def ensemble(self) -> torch.Tensor:
        """Template-ensembled, normalised feature per concept (C, text_dim): stored in checkpoints."""
        return torch.stack([F.normalize(f.mean(0), dim=0) for f in self.features])


def global_concept(modality: str, body_part: str) -> Concept:
    return Concept(id=f"global:{modality.upper()}:{body_part}", name=f"{modality.upper()} {body_part}", known=True)


def build_text_bank(extra: list[Concept] = (), global_pairs: list[tuple[str, str]] = ()) -> TextBank:
    """Every knowledge-table concept (+ extra) with CT and MR templates, plus whole-image captions."""
    concepts = {c.id: c for c in all_concepts()}
    for c in extra:
        concepts.setdefault(c.id, c)
    texts: list[list[str]] = []
    entries: list[dict[str, str]] = []
    for c in concepts.values():
        entries.append(c.as_dict())
        texts.append(sorted(set(sentences(c, "CT") + sentences(c, "MR"))))
    for modality, body in sorted(set(global_pairs)):
        g = global_concept(modality, body)
        entries.append(g.as_dict())
        base = global_sentence(modality, body)
        texts.append([base, f"an axial {modality} image of the {body}", f"{body} {modality}", f"whole {base}"])
    encoder = shared_text_encoder()
    flat = [t for group in texts for t in group]
    log.info("encoding %d sentences for %d concepts", len(flat), len(entries))
    feats = encoder.encode(flat)
    out, start = [], 0
    for group in texts:
        out.append(feats[start:start + len(group)])
        start += len(group)
    return TextBank(entries, out)

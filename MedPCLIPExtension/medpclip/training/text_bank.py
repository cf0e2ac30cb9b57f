"""Frozen sentence features for every concept's template sentences (computed once per run)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..data.vocabulary import Concept, all_concepts, global_sentence, sentences
from ..fileio import atomic_write
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


def _encode_cached(flat: list[str]) -> torch.Tensor:
    """Sentence features, cached on disk by content hash (the frozen encoder makes them deterministic)."""
    import hashlib
    import os
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    from ..model.text import MINILM_SHA256

    digest = hashlib.sha256(("\n".join([MINILM_SHA256, *flat])).encode()).hexdigest()[:24]
    cache_dir = Path(os.environ.get("MEDPCLIP_CACHE", Path.home() / ".cache" / "medpclip"))
    path = cache_dir / f"text_features_{digest}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))["features"]
        except Exception:  # a damaged cache entry is recomputed
            log.warning("ignoring unreadable text-feature cache %s", path)
    log.info("encoding %d sentences", len(flat))
    feats = shared_text_encoder().encode(flat)
    try:
        atomic_write(path, lambda tmp: save_file({"features": feats.contiguous()}, tmp))
    except OSError:
        log.warning("could not write the text-feature cache in %s", cache_dir)
    return feats


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
    flat = [t for group in texts for t in group]
    feats = _encode_cached(flat)
    out, start = [], 0
    for group in texts:
        out.append(feats[start:start + len(group)])
        start += len(group)
    return TextBank(entries, out)

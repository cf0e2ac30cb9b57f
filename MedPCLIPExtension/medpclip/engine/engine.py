"""The engine: one loaded model, its vocabulary embeddings and the model thread. ``Engine.open`` gives a
``Session`` per volume (``session.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from ..data.terminology import code_text, coding
from ..data.vocabulary import resolve, sentences
from ..data.volume import Volume, read_image, volume_from_array
from ..errors import PromptError
from ..model.checkpoint import Checkpoint, load_checkpoint
from .device import configure_threads, pick_device, pick_precision
from .worker import ModelThread, on_model_thread

if TYPE_CHECKING:
    from .session import Session


class Engine:
    """A loaded model + its vocabulary embeddings. Thread-safe: every torch call runs, one at a time, on the
    engine's model thread (see ``worker.py`` for why one thread)."""

    def __init__(self, checkpoint: Checkpoint, device: str | None = "auto", threads: int | None = None,
                 worker: ModelThread | None = None, precision: str | None = None) -> None:
        self.device = pick_device(device)
        self.precision, self.autocast_dtype = pick_precision(precision, self.device)
        self.threads = configure_threads(threads) if self.device.type == "cpu" else torch.get_num_threads()
        self.worker = worker or ModelThread()
        self.worker.call(torch.set_num_threads, self.threads)
        self.checkpoint = checkpoint
        self.model = checkpoint.model.to(self.device).eval()
        self.cfg = self.model.cfg
        # strokes painted into the dense prompt map as well as read as tokens (docs/DESIGN-NOTES.md, "Strokes")
        self.dense_strokes = checkpoint.dense_strokes
        # names use where the region lies in the body too (model/region_geometry.py), when the head was trained
        self.uses_geometry = self.model.uses_geometry
        self.answers_per_click = int(self.cfg.num_multimask)  # one click's answers (the prompt's ``alternative``)
        self.vocab_embeddings = self.worker.call(self._project_vocabulary)
        self.vocab_index = {v["id"]: i for i, v in enumerate(checkpoint.vocabulary)}

    def _project_vocabulary(self) -> torch.Tensor:
        with torch.inference_mode():
            feats = self.checkpoint.text_features.to(self.device)
            return self.model.project_text(feats) if len(feats) else feats

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = "auto",
                        threads: int | None = None, worker: ModelThread | None = None,
                        precision: str | None = None) -> "Engine":
        """Load a checkpoint on the model thread (torch work on a second thread costs, see worker.py). Pass
        the ``worker`` of an engine this one replaces (a newly published model) to keep one model thread.
        ``precision``: auto (default; ``MEDPCLIP_PRECISION``), fp32, bf16 or fp16 (CUDA), see ``pick_precision``."""
        worker = worker or ModelThread()
        return cls(worker.call(load_checkpoint, path, device="cpu"), device, threads, worker, precision)

    def open(self, source: str | Path | Volume | np.ndarray, affine: np.ndarray | None = None,
             modality: str | None = None, window: str = "abdomen", cache_mb: float = 1024,
             views: str | None = None, name: str | None = None) -> "Session":
        """A session over a file, a ``Volume`` or an array (+ its index -> RAS ``affine``). ``name`` names the
        volume in error messages (a viewer's node name; default: "the image")."""
        if isinstance(source, Volume):
            volume = source
        elif isinstance(source, np.ndarray):
            volume = volume_from_array(source, affine, modality)
        else:
            volume = read_image(source, modality=modality)
        from .session import Session  # the session module builds on this one

        return self.worker.call(Session, self, volume, window, cache_mb, views, name)  # normalising uses torch (MONAI)

    def close(self) -> None:
        """Stop the model thread after its queued foreground work (queued prefetch is dropped)."""
        self.worker.close()

    # -- text side --------------------------------------------------------------------------------
    @on_model_thread
    def concept_embeddings(self, names: list[str] | None = None, modality: str = "CT"):
        """Candidate concepts and their (N, E) embeddings: the checkpoint vocabulary or the given names."""
        if names is None:
            concepts = [v for v in self.checkpoint.vocabulary if not v["id"].startswith("global:")]
            idx = [self.vocab_index[c["id"]] for c in concepts]
            return concepts, self.vocab_embeddings[idx]
        if not names:
            raise PromptError("the vocabulary is empty")
        out, embs, missing = [], [], []
        for n, name in enumerate(names):
            concept = resolve(name, strict=False)
            out.append({"id": concept.id if concept.known else name, "name": concept.name})
            if concept.id in self.vocab_index:
                embs.append(self.vocab_embeddings[self.vocab_index[concept.id]])
            else:
                embs.append(None)
                missing.append((n, concept))
        if missing:  # free text: needs the sentence encoder (loaded once per process)
            from ..model.text import shared_text_encoder

            enc = shared_text_encoder()
            for n, concept in missing:
                feats = enc.encode(sentences(concept, modality)).mean(0, keepdim=True)
                with torch.inference_mode():
                    embs[n] = self.model.project_text(F.normalize(feats, dim=-1).to(self.device))[0]
        return out, torch.stack(embs)

    @on_model_thread
    def text_embedding(self, text: str, modality: str = "CT") -> torch.Tensor:
        if not isinstance(text, str) or not text.strip():
            raise PromptError("the search text is empty")
        if len(text) > 500:
            raise PromptError(f"the search text is too long ({len(text)} characters, max 500)")
        return self.concept_embeddings([text], modality)[1][0]

    @on_model_thread
    def rank(self, region: torch.Tensor, names: list[str] | None, top_k: int, modality: str) -> list[dict[str, Any]]:
        concepts, embs = self.concept_embeddings(names, modality)
        if len(concepts) == 0:
            raise PromptError("the checkpoint has no vocabulary; give a vocabulary")
        with torch.inference_mode():
            scale = self.model.logit_scale.exp().clamp(max=100)
            probs = torch.softmax(scale * embs.float() @ region.float(), dim=0).cpu()
        order = torch.argsort(probs, descending=True)[: max(1, top_k)]
        return [_candidate(concepts[i], float(probs[i])) for i in order]


def _candidate(concept: dict[str, str], score: float) -> dict[str, Any]:
    """One ranked name: id, name, score and, for a known concept, its standard codes (``code`` in one line,
    ``coding`` in full: category / type / modifier / region, exact or the nearest Slicer entry)."""
    out: dict[str, Any] = {"name": concept["name"], "id": concept["id"], "score": round(score, 4)}
    entry = coding(concept["id"])
    if entry is not None:
        out["code"] = code_text(entry)
        out["coding"] = {k: entry[k] for k in ("category", "type", "modifier", "region", "exact")}
    return out

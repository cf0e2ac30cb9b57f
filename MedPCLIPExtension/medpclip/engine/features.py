"""The prompt-free trunk features of a session's slices: computed in batches, kept in an LRU cache bounded by
memory and keyed by (plane, slice, view), neighbours prefetched on the model thread's background queue."""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from typing import Callable

import numpy as np
import torch

from ..data.geometry import extract_slice
from ..data.slices import SliceGrid, Window
from ..model.medpclip import MedPCLIP, SliceFeatures
from . import policy
from .worker import BACKGROUND, ModelThread

CacheKey = tuple[str, int, Window]


class FeatureCache:
    def __init__(self, model: MedPCLIP, worker: ModelThread, device: torch.device, canon: np.ndarray,
                 grid: Callable[[str, Window], SliceGrid], context_window: Callable[[str], Window],
                 autocast: Callable, cache_mb: float) -> None:
        self.model, self.worker, self.device, self.canon = model, worker, device, canon
        self._grid, self._context_window, self._autocast = grid, context_window, autocast
        cfg = model.cfg
        per_slice = ((cfg.grid ** 2 + 1) * cfg.width + cfg.fine_channels * (cfg.image_size // 4) ** 2) * 4
        self.capacity = max(8, int(cache_mb * 1024 * 1024 / per_slice))
        self._cache: OrderedDict[CacheKey, SliceFeatures] = OrderedDict()
        self._lock = threading.Lock()
        self.closed = False
        self.encode_s = 0.0  # seconds spent encoding so far (a prompt's trunk time is its difference)

    def get(self, plane: str, indices: list[int], window: Window | None = None) -> list[SliceFeatures]:
        """Features of ``indices`` in one view (default: the context view); runs on the model thread."""
        window = window or self._context_window(plane)
        return self._get([(plane, i, window) for i in indices])

    def get_views(self, plane: str, idx: int, windows: list[Window]) -> list[SliceFeatures]:
        """Features of one slice in several views, the missing ones encoded in one batch; on the model thread."""
        return self._get([(plane, idx, w) for w in windows])

    def _get(self, keys: list[CacheKey]) -> list[SliceFeatures]:
        missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
        t = time.perf_counter()
        for start in range(0, len(missing), policy.ENCODE_CHUNK):
            chunk = missing[start:start + policy.ENCODE_CHUNK]
            grids = {(plane, window): self._grid(plane, window) for plane, _, window in chunk}
            imgs = torch.stack([grids[plane, window].image_to_model(extract_slice(self.canon, plane, i))
                                for plane, i, window in chunk])[:, None]
            with torch.inference_mode(), self._autocast():
                feats = self.model.encode_slices(imgs.to(self.device))
            with self._lock:
                for n, key in enumerate(chunk):
                    self._cache[key] = feats.index(n)
        if missing:
            self.encode_s += time.perf_counter() - t
        out = []
        with self._lock:
            for key in keys:
                self._cache.move_to_end(key)
                out.append(self._cache[key])
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return out

    def cached(self, plane: str, idx: int, window: Window | None = None) -> bool:
        return (plane, idx, window or self._context_window(plane)) in self._cache

    def prefetch(self, plane: str, center: int, n_slices: int, radius: int = 2) -> None:
        """Encode neighbouring slices in the background so the next slice's first click is cheap."""
        idx = [i for d in range(1, radius + 1) for i in (center - d, center + d) if 0 <= i < n_slices]
        todo = [i for i in idx if not self.cached(plane, i)]
        if todo:
            self.worker.submit(functools.partial(self._prefetch, plane, todo), BACKGROUND)

    def _prefetch(self, plane: str, indices: list[int]) -> None:
        if not self.closed:
            self.get(plane, indices)

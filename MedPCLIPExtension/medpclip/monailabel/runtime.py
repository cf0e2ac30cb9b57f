"""What the infer tasks share inside one server process: the active model and a cache of open sessions.

* :class:`ModelProvider` loads the engine lazily from the active checkpoint: the weights published by the
  fine-tuning trainer (``<model_dir>/medpclip_finetuned.safetensors``) when present, else the base checkpoint.
  Each request checks the published file's (mtime, size); when it changed, the new weights are loaded and the
  session cache is emptied, so infer tasks use freshly published weights without a restart. A broken file
  never replaces a working model: the previous engine keeps serving and the error is logged.
* :class:`SessionCache` keeps the last N opened images as engine sessions, keyed by real path + mtime + size +
  model generation, so the second and later clicks on an image skip loading, normalising and the trunk for
  slices already seen. Concurrent first requests for the same image open it once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

PUBLISHED_NAME = "medpclip_finetuned.safetensors"
TRAIN_STATS_NAME = "train_stats.json"


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def truthy(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass
class RuntimeConfig:
    """App settings (MONAI Label ``--conf key value`` pairs)."""

    app_dir: Path
    checkpoint: Path | None = None       # base checkpoint; None: $MEDPCLIP_CHECKPOINT or the bundled default
    model_dir: Path | None = None        # published fine-tuned weights + train stats; default <app_dir>/model
    use_finetuned: bool = True
    device: str = "auto"
    threads: int | None = None
    session_cache: int = 4               # images kept open
    session_cache_mb: float = 256        # trunk-feature cache per open image
    window: str = "abdomen"              # CT window preset for normalisation

    @classmethod
    def from_conf(cls, app_dir: str | Path, conf: dict[str, str] | None) -> "RuntimeConfig":
        conf = conf or {}
        app_dir = Path(app_dir)
        ckpt = conf.get("checkpoint")
        model_dir = conf.get("model_dir")
        threads = conf.get("threads")
        return cls(app_dir=app_dir,
                   checkpoint=Path(ckpt).expanduser() if ckpt else None,
                   model_dir=Path(model_dir).expanduser() if model_dir else app_dir / "model",
                   use_finetuned=truthy(conf.get("use_finetuned"), True),
                   device=conf.get("device", "auto") or "auto",
                   threads=int(threads) if threads else None,
                   session_cache=max(1, int(conf.get("session_cache", 4))),
                   session_cache_mb=float(conf.get("session_cache_mb", 256)),
                   window=conf.get("window", "abdomen") or "abdomen")

    @property
    def published_path(self) -> Path:
        assert self.model_dir is not None
        return self.model_dir / PUBLISHED_NAME

    @property
    def train_stats_path(self) -> Path:
        assert self.model_dir is not None
        return self.model_dir / TRAIN_STATS_NAME

    def base_checkpoint(self) -> Path:
        from ..model.checkpoint import default_checkpoint_path

        return self.checkpoint if self.checkpoint is not None else default_checkpoint_path()

    def active_checkpoint(self) -> tuple[Path, bool]:
        """(path, is_finetuned): the published weights when present and enabled, else the base checkpoint."""
        if self.use_finetuned and self.published_path.is_file():
            return self.published_path, True
        return self.base_checkpoint(), False


class ModelProvider:
    """The engine for the active checkpoint; reloads when the published weights change on disk."""

    def __init__(self, config: RuntimeConfig, on_change: Callable[[], None] | None = None) -> None:
        self.config = config
        self.on_change = on_change
        self._lock = threading.Lock()
        self._engine = None
        self._key: tuple | None = None
        self._info: dict[str, Any] = {}
        self.generation = 0

    @property
    def info(self) -> dict[str, Any]:
        """The loaded weights ({} before the first load)."""
        return dict(self._info)

    def get(self):
        """-> (engine, weights info). Loads on first use and after the active checkpoint changed."""
        path, finetuned = self.config.active_checkpoint()
        key = (str(path), _file_key(path))
        if self._engine is not None and key == self._key:
            return self._engine, self._info
        with self._lock:
            path, finetuned = self.config.active_checkpoint()
            key = (str(path), _file_key(path))
            if self._engine is not None and key == self._key:
                return self._engine, self._info
            from ..engine import Engine

            t0 = time.perf_counter()
            try:
                # the new model shares the old one's model thread: one OpenMP team per process (engine/worker.py)
                engine = Engine.from_checkpoint(path, device=self.config.device, threads=self.config.threads,
                                                worker=self._engine.worker if self._engine is not None else None)
            except Exception:
                if self._engine is None:
                    raise
                log.exception("could not load %s; still serving %s", path, self._info.get("path"))
                self._key = key  # do not retry on every request; a new publish changes the key
                return self._engine, self._info
            ckpt = engine.checkpoint
            self._engine, self._key = engine, key
            self.generation += 1
            self._info = {"path": str(path), "finetuned": finetuned, "generation": self.generation,
                          "sha256": getattr(ckpt, "sha256", None),
                          "steps": (ckpt.provenance or {}).get("steps"),
                          "load_ms": round((time.perf_counter() - t0) * 1000, 1)}
            log.info("MedP-CLIP weights loaded: %s (finetuned=%s, %.0f ms)", path, finetuned, self._info["load_ms"])
            if self.on_change is not None:
                self.on_change()
            return self._engine, self._info


class SessionCache:
    """LRU of engine sessions keyed by (real path, mtime, size, model generation)."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = max(1, capacity)
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._opening: dict[tuple, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for session in items:
            session.close()

    def get(self, path: str | Path, generation: int, opener: Callable[[str], Any]) -> tuple[Any, bool]:
        """-> (session, was_cached). ``opener(path)`` opens a new session (called once per key)."""
        real = os.path.realpath(path)
        fkey = _file_key(Path(real))
        if fkey is None:
            raise FileNotFoundError(f"image file {path} is missing")
        key = (real, fkey, generation)
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key], True
                waiter = self._opening.get(key)
                if waiter is None:
                    event = threading.Event()
                    self._opening[key] = event
                    break
            waiter.wait()  # another request is opening this image; then take it from the cache
        try:
            session = opener(real)
        except BaseException:
            with self._lock:
                self._opening.pop(key, None)
            event.set()
            raise
        evicted = []
        with self._lock:
            self.misses += 1
            # drop older versions of the same file (edited on disk, or an older model generation)
            for old in [k for k in self._items if k[0] == real]:
                evicted.append(self._items.pop(old))
            self._items[key] = session
            while len(self._items) > self.capacity:
                evicted.append(self._items.popitem(last=False)[1])
            self._opening.pop(key, None)
        event.set()
        for old in evicted:
            old.close()
        return session, False

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"open": len(self._items), "capacity": self.capacity, "hits": self.hits, "misses": self.misses}


class Runtime:
    """Model + sessions for one app instance."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.sessions = SessionCache(config.session_cache)
        self.models = ModelProvider(config, on_change=self.sessions.clear)
        self.cache_roots: list[str] = []   # images under these folders are cached; others (uploads) are not

    def cacheable(self, path: str | Path) -> bool:
        real = os.path.realpath(path)
        return any(os.path.commonpath([real, root]) == root for root in self.cache_roots)

    def session(self, image_path: str | Path):
        """-> (session, info) where info has the weights used, whether the session was cached and its open time."""
        from ..data.volume import read_image

        if not image_path:
            raise FileNotFoundError("no image given")
        engine, weights = self.models.get()
        t0 = time.perf_counter()

        def opener(path: str):
            return engine.open(read_image(path), window=self.config.window, cache_mb=self.config.session_cache_mb)

        if self.cacheable(image_path):
            session, cached = self.sessions.get(image_path, weights["generation"], opener)
        else:  # a one-off upload: its temp file is deleted after the answer, caching it would only evict others
            session, cached = opener(os.path.realpath(image_path)), False
        return session, {"weights": weights, "session_cached": cached,
                         "session_ms": round((time.perf_counter() - t0) * 1000, 2)}

    def warm_up(self) -> None:
        """Load the model in the background so the first click does not pay for it."""

        def run():
            try:
                self.models.get()
            except Exception as exc:  # reported again, as a 5xx with the reason, on the first request
                log.error("MedP-CLIP model could not be loaded: %s", exc)

        threading.Thread(target=run, name="medpclip-warmup", daemon=True).start()

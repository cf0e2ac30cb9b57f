"""One OS thread for all of an engine's torch work.

Why: ATen's OpenMP backend gives every calling OS thread its own OpenMP thread team. When torch runs on
several threads (the slice prefetcher, MONAI Label's request pool, a Slicer timer), the teams together
outnumber the cores and libgomp stops spin-waiting between parallel regions; a model this small runs many
short parallel regions, so a click got about 2x slower (14 ms -> 27 ms measured on the 2-core CPU machine).
Funnelling every call through one thread keeps a single team, serialises model use (which a lock did
before) and lets foreground work jump ahead of background prefetch.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import queue
import threading
import weakref
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

T = TypeVar("T")

FOREGROUND = 0
BACKGROUND = 1
_STOP = BACKGROUND + 1
_LIVE: "weakref.WeakSet[ModelThread]" = weakref.WeakSet()


class ModelThread:
    """A single worker thread with a priority queue (foreground before background, FIFO within each)."""

    def __init__(self, name: str = "medpclip-model", setup: Callable[[], Any] | None = None) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        _LIVE.add(self)
        if setup is not None:
            self.call(setup)

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, fn: Callable[[], T], priority: int = FOREGROUND) -> "Future[T]":
        if self._stopping:
            raise RuntimeError("the engine is closed")
        future: Future = Future()
        self._queue.put((priority, next(self._order), fn, future))
        return future

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the model thread and wait for it (directly when already there)."""
        if self.on_thread():
            return fn(*args, **kwargs)
        return self.submit(functools.partial(fn, *args, **kwargs)).result()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop after the queued foreground work (queued background work is dropped); wait up to ``timeout``."""
        self._stopping = True
        if self._thread.is_alive():
            self._queue.put((_STOP, next(self._order), None, None))
            if not self.on_thread():
                self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            priority, _, fn, future = self._queue.get()
            if fn is None:
                return
            if self._stopping and priority == BACKGROUND:
                future.cancel()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)


def on_model_thread(method: Callable[..., T]) -> Callable[..., T]:
    """Decorator for Session / Engine methods: run on the owning engine's model thread."""

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any) -> T:
        engine = getattr(self, "engine", self)
        return engine.worker.call(method, self, *args, **kwargs)

    return wrapper


@atexit.register
def _stop_all() -> None:
    # a daemon thread still holding an OpenMP team when the interpreter tears down aborts the process
    # ("terminate called without an active exception"); stop every model thread first
    for worker in list(_LIVE):
        worker.close(timeout=5.0)

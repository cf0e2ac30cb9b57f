"""The module's job runner: one model call at a time on a worker thread, its result applied on the main thread.
No Qt here: the widget polls ``JobRunner.poll`` from a timer and shows what it returns; scripts may use it too.

A ``Job`` is the three-step shape of every operation of the logic:

1. ``prepare`` (main thread): read the MRML nodes -> plain arrays, world affine, a DESIGN section 6 prompt;
2. ``job.compute()`` (any thread): the backend call (engine in-process, or the MONAI Label server);
3. ``job.apply(result)`` (main thread): write the result into the segment, remember how to undo it.
"""

from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Job:
    """One unit of model work: ``compute`` touches no MRML (thread-safe), ``apply`` must run on the main thread."""

    compute: Callable[[], Any]
    apply: Callable[[Any], Any]

    def run(self):
        return self.apply(self.compute())


@dataclass
class Outcome:
    """How a job ended (``JobRunner.poll``): ``value`` is what ``job.apply`` returned; ``error`` what the compute,
    apply or onDone step raised (nothing was written when compute or apply failed); ``cancelled``: the result was
    discarded unapplied."""

    message: str
    seconds: float
    value: Any = None
    error: BaseException | None = None
    traceback: str = ""
    cancelled: bool = False


@dataclass
class _Running:
    job: Job
    future: Future
    onDone: Callable[[Any], Any] | None
    message: str
    start: float


class JobRunner:
    """Runs one job at a time on its worker thread. A request made while a job runs waits, and replaces any earlier
    waiting one (the latest prompt wins); ``cancel`` discards the running job's result and the waiting request."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: _Running | None = None
        self._pending: tuple | None = None
        self._cancelled = False

    # -- state ----------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def message(self) -> str:
        return self._running.message if self._running is not None else ""

    @property
    def elapsed(self) -> float:
        return time.time() - self._running.start if self._running is not None else 0.0

    # -- running --------------------------------------------------------------------------------------
    def submit(self, job: Job) -> Future:
        """Run ``job.compute`` on the worker thread; the caller applies ``job.apply(future.result())`` on the main
        thread when the future is done."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medpclip-logic")
        return self._executor.submit(job.compute)

    def request(self, prepare: Callable[[], Job], onDone: Callable[[Any], Any] | None = None,
                message: str = "") -> bool:
        """Start ``prepare()``'s job now (``prepare`` runs here, on the main thread; its errors propagate), or, while
        a job runs, keep the request waiting until ``startPending``. Returns whether the job started."""
        if self._running is not None:
            self._pending = (prepare, onDone, message)
            return False
        job = prepare()
        self._cancelled = False
        self._running = _Running(job, self.submit(job), onDone, message, time.time())
        return True

    def poll(self) -> Outcome | None:
        """None while the job runs (or when none runs). Once its computation is over: apply the result here (the main
        thread) and hand what ``apply`` returned to the request's ``onDone``, unless the job was cancelled; return
        how it ended. Never raises: an error of the computation, ``apply`` or ``onDone`` is in the outcome."""
        run = self._running
        if run is None or not run.future.done():
            return None
        self._running = None
        outcome = Outcome(run.message, time.time() - run.start, cancelled=self._cancelled)
        try:
            out = run.future.result()
            if not outcome.cancelled:
                outcome.value = run.job.apply(out)
                if run.onDone is not None:
                    run.onDone(outcome.value)
        except Exception as exc:
            outcome.error, outcome.traceback = exc, traceback.format_exc()
        return outcome

    def startPending(self) -> bool:
        """Start the request that waited while the last job ran (its ``prepare`` errors propagate)."""
        if self._running is not None or self._pending is None:
            return False
        pending, self._pending = self._pending, None
        return self.request(*pending)

    def cancel(self) -> bool:
        """Discard the running job's result (the computation itself finishes on the worker) and any waiting request.
        Returns whether a job was running."""
        if self._running is None:
            return False
        self._cancelled = True
        self._pending = None
        return True

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._running = self._pending = None

"""Ordered map over worker processes that fails loudly when a worker dies.

``multiprocessing.Pool.imap`` replaces a worker that dies (a segfault in an engine library,
the kernel's OOM killer) and waits forever for the work it held. :class:`OrderedWorkers`
runs on :class:`concurrent.futures.ProcessPoolExecutor` instead, which notices the death:
the run stops with :class:`WorkerDied`, naming what to do. Output written before that stays;
the synth pipelines resume from it.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

__all__ = ["OrderedWorkers", "WorkerDied"]

T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(RuntimeError):
    """A worker process ended abruptly while it held work."""


class OrderedWorkers:
    """``map`` in input order over ``workers`` processes, at most ``ahead`` items in flight."""

    def __init__(self, workers: int, *, start_method: str = "spawn", initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = (), ahead: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.ahead = ahead if ahead is not None else 2 * workers
        self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method),
                                             initializer=initializer, initargs=initargs)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        pending: deque[Future[R]] = deque()
        source = iter(items)
        for item in source:
            pending.append(self._executor.submit(fn, item))
            if len(pending) >= self.ahead:
                break
        while pending:
            try:
                result = pending.popleft().result()
            except BrokenProcessPool as exc:
                raise WorkerDied("a worker process died (crash or out of memory); what was written so far "
                                 "is kept: run the same command again to resume") from exc
            for item in source:
                pending.append(self._executor.submit(fn, item))
                break
            yield result

    def close(self, *, abort: bool = False) -> None:
        """Wait for the workers to finish (or, with ``abort``, stop them now)."""
        if not abort:
            self._executor.shutdown(wait=True)
            return
        terminate = getattr(self._executor, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        # before 3.14 there is no public way: take the processes before shutdown forgets them
        procs = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=5)

    def __enter__(self) -> OrderedWorkers:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(abort=exc_type is not None)

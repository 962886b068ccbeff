"""Run one function over a stream of batches on several processes, results in input order.

``ordered_map(fn, batches, plan)`` yields ``fn(batch)`` for each batch in the order the batches
came, whatever order they finish in, with at most ``plan.in_flight`` batches submitted and not yet
consumed: memory is bounded by that window, not by the length of the stream (backpressure on the
reader). Executors:

* ``local`` with one worker: in this process (no pickling; what a small corpus wants);
* ``local`` with several: a ``concurrent.futures.ProcessPoolExecutor`` (spawned processes, so no
  thread state of the parent is forked);
* ``dask``: a Dask distributed cluster, either a running scheduler (``scheduler`` address) or a
  ``LocalCluster`` of ``workers`` processes started here and closed afterwards. ``fn`` and the
  batches must pickle (a module-level function and plain data do).
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from .errors import SanchaekError


@dataclass(frozen=True)
class ExecutionPlan:
    executor: str  # "local" | "dask"
    workers: int  # processes; 0 = all cores of this machine
    in_flight: int = 0  # batches submitted and not yet consumed; 0 = 2 per worker
    scheduler: str | None = None  # dask: address of a running scheduler; None = a LocalCluster here
    what: str = "preprocess"  # the params section, for error messages
    # local processes: run once in each worker before its first batch (e.g. load a model there)
    initializer: Callable[..., None] | None = None
    initargs: tuple = ()
    # what a dead worker's message tells the user to do; None: lower <what>.batch_chars or <what>.workers
    died_fix: str | None = None

    @property
    def processes(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    @property
    def window(self) -> int:
        return self.in_flight or 2 * self.processes


def ordered_map(fn: Callable[[Any], Any], batches: Iterable[Any], plan: ExecutionPlan) -> Iterator[Any]:
    if plan.executor == "local" and plan.processes == 1:
        return (fn(batch) for batch in batches)
    if plan.executor == "local":
        return _local(fn, batches, plan)
    if plan.executor == "dask":
        return _dask(fn, batches, plan)
    raise SanchaekError(f"{plan.what}.executor: unknown executor {plan.executor!r}: use local or dask")


def _windowed(
    submit: Callable[[Any], Any], result: Callable[[Any], Any], batches: Iterable[Any], window: int
):
    pending: deque = deque()
    for batch in batches:
        pending.append(submit(batch))
        if len(pending) >= window:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


def ordered_thread_map(fn: Callable[[Any], Any], items: Iterable[Any], threads: int) -> Iterator[Any]:
    """``fn`` over ``items`` on ``threads`` threads (for work that waits on a network), results in
    input order, at most ``2 * threads`` items taken from ``items`` and not yet consumed. The first
    error is raised in order; the items queued behind it are dropped, the running ones finish."""
    if threads <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        yield from _windowed(lambda item: pool.submit(fn, item), lambda f: f.result(), items, 2 * threads)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _local(fn, batches, plan: ExecutionPlan) -> Iterator[Any]:
    pool = ProcessPoolExecutor(
        max_workers=plan.processes, mp_context=get_context("spawn"),
        initializer=plan.initializer, initargs=plan.initargs,
    )  # fmt: skip
    fix = plan.died_fix or (
        f"lower {plan.what}.batch_chars or {plan.what}.workers and rerun (earlier output is intact)"
    )
    try:
        yield from _windowed(lambda b: pool.submit(fn, b), lambda f: f.result(), batches, plan.window)
    except BrokenProcessPool:
        raise SanchaekError(f"a {plan.what} worker process died (killed for memory?): {fix}") from None
    finally:
        # on an error (or a consumer that stops early) the queued batches are dropped, not run
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(fn, batches, plan: ExecutionPlan) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SanchaekError(
            f"{plan.what}.executor: dask needs the scale extra: pip install 'sanchaek[scale]' "
            f"(or set {plan.what}.executor: local)"
        ) from None
    with contextlib.ExitStack() as stack:
        if plan.scheduler:
            try:
                client = stack.enter_context(Client(plan.scheduler, timeout="10s"))
            except OSError as exc:
                raise SanchaekError(
                    f"{plan.what}.dask_scheduler: cannot reach {plan.scheduler} ({exc}): start the "
                    f"scheduler (`dask scheduler`) or set it to null for a local cluster"
                ) from None
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=plan.processes,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        # a running cluster keeps all its workers busy: two batches in flight per worker it has
        workers = len(client.scheduler_info().get("workers", {})) or plan.processes
        window = plan.in_flight or 2 * workers
        # pure=False: two equal batches are still two tasks (no result sharing by key hashing)
        yield from _windowed(
            lambda b: client.submit(fn, b, pure=False), lambda f: f.result(), batches, window
        )

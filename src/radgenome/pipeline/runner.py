"""Running case jobs locally: in-process (one worker) or in a spawn-started ``ProcessPoolExecutor``.

Cases are independent; each result is handed to ``on_done`` in the coordinating process as soon as it is
ready (the manifest and progress bar live there). A worker that dies (killed for memory, segfault) fails only
the cases whose futures report it; the build goes on with a fresh pool for the rest. Workers watch their
parent and exit when the build process is killed, so a ``kill -9`` leaves no idle orphans.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from radgenome.pipeline.case import CaseJob, CaseOutcome, run_case

PARENT_POLL_S = 1.0
IN_FLIGHT_PER_WORKER = 2
"""Cases submitted ahead per worker: bounded so a 50k-case corpus does not queue 50k futures."""

OnDone = Callable[[CaseJob, CaseOutcome], None]
OnStart = Callable[[CaseJob], None]


def run_local(
    jobs: Iterable[CaseJob],
    workers: int,
    on_done: OnDone,
    on_start: OnStart | None = None,
    fn: Callable[[CaseJob], CaseOutcome] = run_case,
) -> None:
    """Run ``jobs`` with ``workers`` processes (1: in this process); ``fn`` is the per-case function.

    ``jobs`` is consumed lazily, in order, as workers become free (a generator may prepare each job just in time).
    """
    queue = _Queue(jobs)
    if workers <= 1 or queue.at_most(1):
        for job in queue:
            if on_start is not None:
                on_start(job)
            on_done(job, fn(job))
        return
    ctx = multiprocessing.get_context("spawn")
    window = max(2, workers * IN_FLIGHT_PER_WORKER)
    while queue:
        broken: list[CaseJob] = []
        with _pool(queue.up_to(workers), ctx) as pool:
            pending: dict[Future[CaseOutcome], CaseJob] = {}
            try:
                _drain(pool, queue, pending, broken, window, fn, on_done, on_start)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            if broken:
                broken.extend(pending.values())  # every in-flight case of a dead pool fails with it
        # A worker died (killed for memory, crashed): we cannot tell which case killed it, so each affected case
        # gets one retry alone (in a one-worker pool) and fails for good if it dies again; the rest goes on.
        for job in broken:
            on_done(job, _run_isolated(job, ctx, fn))


class _Queue:
    """The jobs still to submit, pulled one at a time from any iterable (in order)."""

    def __init__(self, jobs: Iterable[CaseJob]) -> None:
        self._it: Iterator[CaseJob] = iter(jobs)
        self._ahead: list[CaseJob] = []

    def _fill(self, n: int) -> None:
        while len(self._ahead) < n:
            job = next(self._it, None)
            if job is None:
                return
            self._ahead.append(job)

    def __bool__(self) -> bool:
        self._fill(1)
        return bool(self._ahead)

    def up_to(self, n: int) -> int:
        """How many jobs are left, counting up to ``n``."""
        self._fill(n)
        return min(n, len(self._ahead))

    def at_most(self, n: int) -> bool:
        """Whether there are at most ``n`` jobs left (looks ``n + 1`` ahead)."""
        self._fill(n + 1)
        return len(self._ahead) <= n

    def pop(self) -> CaseJob:
        self._fill(1)
        return self._ahead.pop(0)

    def __iter__(self) -> Iterator[CaseJob]:
        while self:
            yield self.pop()


def _drain(
    pool: ProcessPoolExecutor,
    queue: _Queue,
    pending: dict[Future[CaseOutcome], CaseJob],
    broken: list[CaseJob],
    window: int,
    fn: Callable[[CaseJob], CaseOutcome],
    on_done: OnDone,
    on_start: OnStart | None,
) -> None:
    """Keep ``window`` cases in flight until the queue is empty or the pool breaks."""
    while (queue or pending) and not broken:
        while queue and len(pending) < window:
            job = queue.pop()
            if on_start is not None:
                on_start(job)
            pending[pool.submit(fn, job)] = job
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            job = pending.pop(fut)
            try:
                outcome = fut.result()
            except BrokenProcessPool:
                broken.append(job)
                continue
            except Exception as exc:
                outcome = CaseOutcome(job.stem, "failed", f"worker error: {exc!r}", stage="worker")
            on_done(job, outcome)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the build process dies (kill -9 leaves no orphans behind)."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="radgenome-parent-watch", daemon=True).start()


def _pool(workers: int, ctx: multiprocessing.context.BaseContext) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_exit_with_parent,
                               initargs=(os.getpid(),))


def _run_isolated(
    job: CaseJob, ctx: multiprocessing.context.BaseContext, fn: Callable[[CaseJob], CaseOutcome]
) -> CaseOutcome:
    with _pool(1, ctx) as pool:
        try:
            return pool.submit(fn, job).result()
        except BrokenProcessPool as exc:
            return CaseOutcome(job.stem, "failed", f"worker process died on this case: {exc}", stage="worker")

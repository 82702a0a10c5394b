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
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from radgenome.pipeline.case import CaseJob, CaseOutcome, run_case

PARENT_POLL_S = 1.0

OnDone = Callable[[CaseJob, CaseOutcome], None]
OnStart = Callable[[CaseJob], None]


def run_local(
    jobs: Sequence[CaseJob], workers: int, on_done: OnDone, on_start: OnStart | None = None
) -> None:
    """Run ``jobs`` with ``workers`` processes (1: in this process)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            if on_start is not None:
                on_start(job)
            on_done(job, run_case(job))
        return
    todo = list(jobs)
    ctx = multiprocessing.get_context("spawn")
    while todo:
        broken: list[CaseJob] = []
        with _pool(min(workers, len(todo)), ctx) as pool:
            pending: dict[Future[CaseOutcome], CaseJob] = {}
            for job in todo:
                if on_start is not None:
                    on_start(job)
                pending[pool.submit(run_case, job)] = job
            todo = []
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool as exc:
                        broken.append(job)
                        outcome = CaseOutcome(job.stem, "failed", f"worker process died: {exc}", stage="worker")
                    except Exception as exc:
                        outcome = CaseOutcome(job.stem, "failed", f"worker error: {exc!r}", stage="worker")
                    if job not in broken:
                        on_done(job, outcome)
        if broken:
            # The pool is unusable after a worker died; we cannot tell which case killed it, so each
            # affected case gets one retry on its own (in a one-worker pool) and fails for good if it dies again.
            for job in broken:
                on_done(job, _run_isolated(job, ctx))
    return


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


def _run_isolated(job: CaseJob, ctx: multiprocessing.context.BaseContext) -> CaseOutcome:
    with _pool(1, ctx) as pool:
        try:
            return pool.submit(run_case, job).result()
        except BrokenProcessPool as exc:
            return CaseOutcome(job.stem, "failed", f"worker process died on this case: {exc}", stage="worker")

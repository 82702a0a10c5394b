"""Running case jobs as Ray tasks (``radgenome build --engine ray [--ray-address ADDR]``).

Without an address a local Ray is started (``ray.init(num_cpus=workers, include_dashboard=False)``) and shut
down at the end; with one (``auto``, ``ray://host:10001``, ``host:6379``) the build joins that cluster and
leaves it running. Every worker node needs radgenome installed and OUT on a shared file system.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from radgenome.pipeline.case import CaseJob, CaseOutcome, run_case
from radgenome.pipeline.runner import OnDone, OnStart

IN_FLIGHT_PER_CPU = 2
"""Tasks submitted ahead per cluster CPU: bounded so a 50k-case corpus does not flood the scheduler."""


class RayUnavailableError(RuntimeError):
    pass


def run_ray(
    jobs: Iterable[CaseJob],
    workers: int,
    on_done: OnDone,
    on_start: OnStart | None = None,
    address: str | None = None,
    cpus_per_case: float = 1.0,
) -> None:
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise RayUnavailableError("the ray engine needs Ray (pip install 'radgenome[ray]')") from exc
    started_here = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=max(1, workers), **kwargs)
                started_here = True
        except Exception as exc:  # ConnectionError, timeouts, bad address...
            where = f"join Ray at {address}" if address else "start a local Ray"
            raise RayUnavailableError(f"cannot {where}: {exc.__class__.__name__}: {exc}") from exc
    try:
        task = ray.remote(num_cpus=cpus_per_case, max_retries=0)(run_case)
        cpus = float(ray.cluster_resources().get("CPU", workers))
        window = max(2, int(IN_FLIGHT_PER_CPU * cpus / cpus_per_case))
        queue = iter(jobs)
        pending: dict[Any, CaseJob] = {}
        more = True
        while more or pending:
            while more and len(pending) < window:
                job = next(queue, None)
                if job is None:
                    more = False
                    break
                if on_start is not None:
                    on_start(job)
                pending[task.remote(job)] = job
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # RayTaskError, WorkerCrashedError, ...
                    outcome = CaseOutcome(job.stem, "failed", f"ray task failed: {exc.__class__.__name__}: {exc}",
                                          stage="worker")
                on_done(job, outcome)
    finally:
        if started_here:
            ray.shutdown()

"""The local process pool: a worker that dies fails only its own case; the others finish."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from radgenome.model import Report
from radgenome.pipeline.case import BuildSettings, CaseJob, CaseOutcome
from radgenome.pipeline.runner import run_local

CRASHER = '''
import os
import time

from radgenome.pipeline.case import CaseOutcome


def fn(job):
    if job.stem == "c3":
        os._exit(9)  # the worker process dies (as when killed for memory)
    time.sleep(0.1)
    return CaseOutcome(job.stem, "done")
'''


def test_dead_worker_fails_only_its_case(tmp_path: Path) -> None:
    (tmp_path / "rg_crasher.py").write_text(CRASHER)
    sys.path.insert(0, str(tmp_path))  # spawned workers inherit sys.path
    try:
        fn = importlib.import_module("rg_crasher").fn
        jobs = [CaseJob(f"c{i}", f"c{i}", Report(volume=f"c{i}"), tmp_path, BuildSettings()) for i in range(7)]
        got: dict[str, CaseOutcome] = {}
        started: list[str] = []
        run_local(jobs, 2, lambda j, o: got.__setitem__(j.stem, o), lambda j: started.append(j.stem), fn=fn)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("rg_crasher", None)
    assert sorted(got) == [f"c{i}" for i in range(7)] and started == [f"c{i}" for i in range(7)]
    assert got["c3"].status == "failed" and "died" in got["c3"].reason
    assert all(o.status == "done" for s, o in got.items() if s != "c3")

"""kill -9 a 2-worker build midway, re-run it: nothing finished is lost, no worker outlives the build, and the
tables equal an uninterrupted build's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FINISHED_BEFORE_KILL = 2

# The killed build: a 2-worker build whose first FINISHED_BEFORE_KILL cases (in corpus order) run normally and
# whose other cases block inside their worker until the process is killed. The kill point is therefore set by
# the test, not by how fast the machine happens to be.
SCRIPT = """
import functools, sys
from pathlib import Path
import radgenome.pipeline.runner as runner
from radgenome.pipeline.build import BuildOptions, run_build
import resume_gate

original = runner.run_local

def gated_run_local(jobs, workers, on_done, on_start=None, fn=runner.run_case):
    allowed = frozenset(job.stem for job in jobs[: int(sys.argv[3])])
    return original(jobs, workers, on_done, on_start, fn=functools.partial(resume_gate.gated, allowed))

runner.run_local = gated_run_local
sys.exit(run_build(BuildOptions(out=Path(sys.argv[1]), root=Path(sys.argv[2]), workers=2)).exit_code)
"""

GATE = """
import threading
from radgenome.pipeline.case import run_case

def gated(allowed, job):
    if job.stem not in allowed:
        threading.Event().wait()  # held until the build (and with it this worker) is killed
    return run_case(job)
"""


def _done_in_manifest(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'manifest.sqlite'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM cases WHERE status = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill9_midway_then_resume(
    corpus_factory: Callable[[int], Path],
    tmp_path: Path,
    run: Callable[..., Any],
    tables: Callable[[Path], dict[str, bytes]],
) -> None:
    root = corpus_factory(6)
    out = tmp_path / "killed"
    (tmp_path / "gate").mkdir()
    (tmp_path / "gate" / "resume_gate.py").write_text(GATE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "gate"),
                                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), str(root), str(FINISHED_BEFORE_KILL)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        # Wait (a condition, bounded only as a safety net) until the allowed cases are done in the manifest;
        # the others are blocked in their workers, so the build cannot finish on its own.
        safety = time.monotonic() + 300
        while _done_in_manifest(out) < FINISHED_BEFORE_KILL:
            assert proc.poll() is None, f"the gated build exited early (status {proc.returncode})"
            assert time.monotonic() < safety, "the gated build never finished its allowed cases"
            time.sleep(0.05)
        assert proc.poll() is None
        workers = _children(proc.pid)
        assert workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        # Workers notice their parent is gone within PARENT_POLL_S; wait for that condition, not for a time.
        safety = time.monotonic() + 120
        while any(_alive(w) for w in workers) and time.monotonic() < safety:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "worker processes outlived the killed build"
    finally:
        if proc.poll() is None:
            proc.kill()
    finished_before = {p.stem for p in (out / "cases").glob("*.json")}
    assert len(finished_before) == FINISHED_BEFORE_KILL
    assert not (out / "dataset").exists()  # killed before the tables

    resumed = run(out, root)
    assert resumed.exit_code == 0, resumed
    assert resumed.skipped == FINISHED_BEFORE_KILL  # finished cases are not redone
    assert resumed.done + resumed.skipped == 6
    with sqlite3.connect(out / "manifest.sqlite") as db:
        assert {s for (s,) in db.execute("SELECT status FROM cases")} == {"done"}

    whole = tmp_path / "whole"
    assert run(whole, root).exit_code == 0
    a, b = tables(out), tables(whole)
    assert sorted(a) == sorted(b) and len(a) >= 4
    for name in a:
        assert a[name] == b[name], name

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

SCRIPT = """
import sys
from pathlib import Path
from radgenome.pipeline.build import BuildOptions, run_build
sys.exit(run_build(BuildOptions(out=Path(sys.argv[1]), root=Path(sys.argv[2]), workers=2, progress=False)).exit_code)
"""


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
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if any((out / "cases").glob("*.json")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the build ended before it could be killed"
        workers = _children(proc.pid)
        assert workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        gone = time.monotonic() + 10
        while time.monotonic() < gone and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "worker processes outlived the killed build"
    finally:
        if proc.poll() is None:
            proc.kill()
    finished_before = {p.stem for p in (out / "cases").glob("*.json")}
    assert 1 <= len(finished_before) < 6
    assert not (out / "dataset").exists()  # killed before the tables

    resumed = run(out, root)
    assert resumed.exit_code == 0, resumed.summary
    assert resumed.summary["skipped"] >= len(finished_before)  # finished cases are not redone
    assert resumed.summary["done"] + resumed.summary["skipped"] == 6
    with sqlite3.connect(out / "manifest.sqlite") as db:
        assert {s for (s,) in db.execute("SELECT status FROM cases")} == {"done"}

    whole = tmp_path / "whole"
    assert run(whole, root).exit_code == 0
    a, b = tables(out), tables(whole)
    assert sorted(a) == sorted(b) and len(a) >= 4
    for name in a:
        assert a[name] == b[name], name

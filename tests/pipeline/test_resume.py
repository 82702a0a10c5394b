"""kill -9 a build midway, re-run it: nothing finished is lost and the tables equal an uninterrupted build's."""

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
sys.exit(run_build(BuildOptions(out=Path(sys.argv[1]), root=Path(sys.argv[2]), progress=False)).exit_code)
"""


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
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
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

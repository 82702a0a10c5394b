"""The adversarial corpus of benchmarks/bench_adversarial.py, generated here and run through every command: bad
report rows, broken volumes and faults (wrong kinds in OUT, a full disk at every writer, read-only targets, FIFO
inputs, damaged outputs on resume, a held lock, moved corpora). Every probe is handled cleanly: the expected exit
status, no traceback, the bad input named, no good row lost or duplicated, no formula cell in any CSV."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_adversarial", REPO / "benchmarks" / "bench_adversarial.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_adversarial_input_is_handled_cleanly(tmp_path: Path) -> None:
    fig = _bench().run_suite(tmp_path)  # type: ignore[attr-defined]
    assert fig["tried"] >= 164
    assert fig["not_clean"] == []
    assert fig["handled_cleanly"] == fig["tried"]
    assert fig["tracebacks"] == 0
    assert fig["lost"] == [] and fig["duplicated"] == []
    assert fig["formula"] == [] and fig["csv_cells_scanned"] > 1_000
    cats = fig["by_category"]
    for cat in ("rows/text", "rows/build", "volumes", "out_kinds", "full_disk", "odd_inputs", "resume", "lock",
                "paths", "tables"):
        assert cats[cat]["tried"] > 0, cat

"""``--engine ray`` on a local 2-CPU Ray: same tables as the local engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def test_ray_engine_matches_local(
    corpus_factory: Callable[[int], Path],
    tmp_path: Path,
    run: Callable[..., Any],
    reference_build: Path,
    tables: Callable[[Path], dict[str, bytes]],
) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed")
    root = corpus_factory(4)
    res = run(tmp_path / "ray", root, engine="ray", workers=2)
    assert res.exit_code == 0, res
    assert res.done == 4
    assert tables(tmp_path / "ray") == tables(reference_build)

"""Shared fixtures: the read-only benchmark folder ``../shared`` beside the repository.

Tests that need it take the ``benchmarks_dir`` / ``reference_dir`` fixtures (never a path of their own) and skip
when it is absent. With ``RADGENOME_REQUIRE_BENCHMARKS=1`` (set by ``.ci/run`` whenever ``../shared/benchmarks``
exists) such a test fails instead of skipping, so a benchmark check can never go quiet in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BENCHMARKS = SHARED / "benchmarks"
REFERENCE = SHARED / "reference"
REQUIRE_BENCHMARKS = os.environ.get("RADGENOME_REQUIRE_BENCHMARKS") == "1"
_SHARED_FIXTURES = ("benchmarks_dir", "reference_dir")


def _absent(what: Path) -> None:
    if REQUIRE_BENCHMARKS:
        pytest.fail(f"{what} is absent but RADGENOME_REQUIRE_BENCHMARKS=1")
    pytest.skip(f"{what} is absent")


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    if not (BENCHMARKS / "README.md").is_file():
        _absent(BENCHMARKS)
    return BENCHMARKS


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "radgenome_region_paths.tsv").is_file():
        _absent(REFERENCE)
    return REFERENCE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in _SHARED_FIXTURES):
            item.add_marker(pytest.mark.benchmark_data)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if REQUIRE_BENCHMARKS and report.skipped and item.get_closest_marker("benchmark_data"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: a benchmark test skipped although ../shared/benchmarks must be used"
    return report

"""Shared fixtures: the read-only benchmark folder (tests using it skip when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BENCHMARKS = SHARED / "benchmarks"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    if not (BENCHMARKS / "README.md").is_file():
        pytest.skip("../shared/benchmarks is absent")
    return BENCHMARKS


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "radgenome_region_paths.tsv").is_file():
        pytest.skip("../shared/reference is absent")
    return REFERENCE

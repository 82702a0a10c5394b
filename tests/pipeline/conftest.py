"""Shared helpers of the build tests: small phantom corpora in CT-RATE's layout and in-process builds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from radgenome.model import BuildSummary
from radgenome.pipeline.build import BuildOptions, run_build
from radgenome.synth.corpus import make_demo_corpus

REPO = Path(__file__).resolve().parents[2]

CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "region_report": ("Volumename", "Anatomy", "Sentence"),
    "vqa_abnormality": ("Volumename", "Anatomy", "Abnormality"),
    "vqa_location": ("Volumename", "Anatomy", "Abnormality"),
    "vqa_presence": ("Volumename", "Anatomy", "Finding", "Presence"),
    "vqa_size": ("Volumename", "Anatomy", "Abnormality", "Size"),
    "case_disorders": ("Volumename", "Disorders"),
    "abnormality_labels": ("VolumeName",),
}


def build(out: Path, root: Path | None = None, **kw: Any) -> BuildSummary:
    return run_build(BuildOptions(out=out, root=root, **kw))


def table_bytes(out: Path) -> dict[str, bytes]:
    """Every dataset table of a build (RadGenome CSVs and Parquet), by path relative to OUT."""
    files = sorted((out / "radgenome_files").glob("*.csv")) + sorted((out / "dataset").glob("*.parquet"))
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


@pytest.fixture(scope="session")
def run() -> Callable[..., BuildSummary]:
    """``run(out, root=None, **BuildOptions fields)``: an in-process build without progress bar."""
    return build


@pytest.fixture(scope="session")
def tables() -> Callable[[Path], dict[str, bytes]]:
    return table_bytes


@pytest.fixture(scope="session")
def contract_columns() -> dict[str, tuple[str, ...]]:
    return CONTRACT_COLUMNS


@pytest.fixture(scope="session")
def corpus_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """Phantom corpora in CT-RATE layout, made once per size for the whole session (read-only for tests)."""
    made: dict[int, Path] = {}

    def make(n: int) -> Path:
        if n not in made:
            root = tmp_path_factory.mktemp(f"corpus{n}")
            make_demo_corpus(root, n_cases=n, seed=0)
            made[n] = root
        return made[n]

    return make


@pytest.fixture(scope="session")
def reference_build(corpus_factory: Callable[[int], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of an uninterrupted one-worker build of the 4-case corpus (read-only for tests)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    res = build(out, corpus_factory(4))
    assert res.exit_code == 0, res
    return out

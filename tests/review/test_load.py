"""20 concurrent reviewers posting decisions for 60 s against a real uvicorn: every decision stored exactly once."""

from __future__ import annotations

import os
from pathlib import Path

from radgenome.review.loadtest import load_check
from radgenome.review.sample import write_sample_output

SECONDS = float(os.environ.get("RADGENOME_REVIEW_LOAD_SECONDS", "60"))


def test_twenty_reviewers_lose_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_sample_output(out, n_cases=10, shape=(40, 40, 32), spacing=(8.0, 8.0, 9.0))
    check = load_check(out, f"sqlite:///{tmp_path / 'review.sqlite'}", reviewers=20, seconds=SECONDS)
    f = check.figures
    print("review load test:", f)
    assert f["errors"] == 0
    assert f["retry_mismatches"] == 0 and f["retries_same_key"] > 0
    assert f["decisions_acknowledged"] > 20 * SECONDS  # at least one decision per reviewer per second
    assert all(n > 0 for n in check.acknowledged_by_reviewer.values())
    assert check.missing_keys == 0 and check.unacknowledged_rows == 0
    assert check.stored == f["decisions_acknowledged"]  # retries stored once, nothing lost, nothing extra
    assert check.stored_by_reviewer == check.acknowledged_by_reviewer

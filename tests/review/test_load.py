"""20 concurrent reviewers against a real uvicorn server, bounded by request count (not by time): every
acknowledged decision is stored exactly once, none is lost, retries with the same key are stored once, and each
reviewer's counter equals their stored rows. On SQLite and PostgreSQL. The timed run is benchmarks/bench_review.py."""

from __future__ import annotations

from pathlib import Path

from .load_driver import Budget, load_check

REVIEWERS = 20
DECISIONS_EACH = 12


def test_twenty_reviewers_lose_nothing(sample_out: Path, db_url: str) -> None:
    check = load_check(sample_out, db_url, Budget(decisions=DECISIONS_EACH), reviewers=REVIEWERS, retry_rate=0.25)
    f = check.figures
    print("review load test:", f, "stored", check.stored)
    assert f["errors"] == 0
    assert f["retries_same_key"] > 0 and f["retry_mismatches"] == 0
    assert check.acknowledged_by_reviewer == {f"rev{i:02d}": DECISIONS_EACH for i in range(REVIEWERS)}
    assert check.missing_keys == 0 and check.duplicate_keys == 0 and check.unacknowledged_rows == 0
    assert check.stored == f["decisions_acknowledged"] == REVIEWERS * DECISIONS_EACH
    assert check.stored_by_reviewer == check.acknowledged_by_reviewer
    assert check.counters_match

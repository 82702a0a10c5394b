"""Test and benchmark support: concurrent reviewers against a running review server, and the exactness check.

Used by ``tests/review/test_load.py`` (a short run bounded by request count) and ``benchmarks/bench_review.py``
(the timed 20-reviewer run). Each simulated reviewer has its own bearer token, claims items
(``POST /api/queue/claim``) and posts decisions on them with fresh idempotency keys; a share of posts is sent
twice with the same key (a client retry), and the second answer must name the same stored decision. Deciding
an item again replaces the reviewer's previous decision, so a reviewer can go on posting for as long as asked.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class ReviewerResult:
    name: str
    keys: set[str] = field(default_factory=set)
    """Keys whose decision the server acknowledged (201 or 200)."""
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    retry_mismatches: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    seconds: float
    reviewers: list[ReviewerResult]

    @property
    def acknowledged(self) -> int:
        return sum(len(r.keys) for r in self.reviewers)

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.reviewers for x in r.latencies]

    def figures(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

        return {
            "reviewers": len(self.reviewers),
            "seconds": round(self.seconds, 1),
            "decisions_acknowledged": self.acknowledged,
            "decisions_per_s": round(self.acknowledged / self.seconds, 1) if self.seconds else 0.0,
            "posts": len(lat),
            "retries_same_key": sum(r.retries for r in self.reviewers),
            "retry_mismatches": sum(r.retry_mismatches for r in self.reviewers),
            "errors": sum(len(r.errors) for r in self.reviewers),
            "p50_ms": round(pct(0.50), 1),
            "p95_ms": round(pct(0.95), 1),
            "p99_ms": round(pct(0.99), 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else float("nan"),
        }


@dataclass(frozen=True)
class Budget:
    """When a reviewer stops: after ``decisions`` acknowledged decisions, or ``seconds`` after the run started."""

    decisions: int | None = None
    seconds: float | None = None
    stop: float | None = None
    """Set by :func:`run_load` from ``seconds``."""

    def done(self, acknowledged: int) -> bool:
        if self.decisions is not None and acknowledged >= self.decisions:
            return True
        return self.stop is not None and time.monotonic() >= self.stop


def _reviewer(base: str, name: str, token: str, budget: Budget, seed: int, retry_rate: float,
              out: ReviewerResult) -> None:
    rng = random.Random(seed)
    verdicts = ("accept", "accept", "accept", "reject")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60.0) as client:
        items: list[str] = []
        n = 0
        while not budget.done(len(out.keys)):
            try:
                if not items or n % 25 == 0:
                    r = client.post("/api/queue/claim", json={"limit": 5})
                    r.raise_for_status()
                    items = [i["id"] for i in r.json()["items"]]
                    if not items:  # nothing left to claim: decide the items already decided again
                        r = client.get("/api/queue", params={"state": "decided", "limit": 5})
                        r.raise_for_status()
                        items = [i["id"] for i in r.json()["items"]]
                    if not items:
                        out.errors.append("no item to decide")
                        return
                item = items[n % len(items)]
                key = f"{name}-{n:07d}-{rng.getrandbits(32):08x}"
                body = {"item_id": item, "key": key, "verdict": verdicts[rng.randrange(len(verdicts))]}
                t0 = time.perf_counter()
                r = client.post("/api/decisions", json=body)
                out.latencies.append(time.perf_counter() - t0)
                n += 1
                if r.status_code not in (200, 201):
                    out.errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                out.keys.add(key)
                first = r.json()["id"]
                if rng.random() < retry_rate:
                    out.retries += 1
                    r2 = client.post("/api/decisions", json=body)
                    if r2.status_code != 200 or r2.json()["id"] != first:
                        out.retry_mismatches += 1
            except httpx.HTTPError as exc:
                out.errors.append(repr(exc))
                n += 1


def run_load(base: str, tokens: dict[str, str], budget: Budget, retry_rate: float = 0.05,
             seed: int = 0) -> LoadResult:
    """One thread per reviewer against ``base`` (``http://127.0.0.1:PORT``) until each one's budget is spent."""
    results = [ReviewerResult(name) for name in tokens]
    start = time.monotonic()
    if budget.seconds is not None:
        budget = Budget(budget.decisions, budget.seconds, start + budget.seconds)
    threads = [
        threading.Thread(target=_reviewer, args=(base, r.name, tokens[r.name], budget, seed + i, retry_rate, r))
        for i, r in enumerate(results)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(time.monotonic() - start, results)


# ------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(out: Path, url: str, *extra: str, timeout: float = 120.0) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m radgenome.review.cli OUT --db URL --port P`` (uvicorn on 127.0.0.1) with this checkout's
    sources; returns once ``/api/health`` answers (polled: the condition, not a fixed wait)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "radgenome.review.cli", str(out), "--db", url, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"review server exited with {proc.returncode}: {err}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("review server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------- scenario
@dataclass
class LoadCheck:
    figures: dict[str, Any]
    stored: int
    """Decision rows in the store after the run."""
    stored_by_reviewer: dict[str, int]
    acknowledged_by_reviewer: dict[str, int]
    missing_keys: int
    """Acknowledged keys with no stored row (lost decisions)."""
    duplicate_keys: int
    """Keys stored more than once."""
    unacknowledged_rows: int
    """Stored rows whose key no client saw acknowledged."""
    counters_match: bool
    """Each reviewer's ``decisions`` counter equals their stored rows."""


def load_check(out: Path, url: str, budget: Budget, reviewers: int = 20, retry_rate: float = 0.05) -> LoadCheck:
    """Create ``reviewers`` users, run them against a real server on 127.0.0.1, then count what was stored."""
    from sqlalchemy import select

    from radgenome.review.store import Decision, ReviewerStats, Store, User, add_user

    store = Store(url)
    tokens = {f"rev{i:02d}": add_user(store, f"rev{i:02d}") for i in range(reviewers)}
    proc, base = start_server(out, url)
    try:
        result = run_load(base, tokens, budget, retry_rate=retry_rate)
    finally:
        stop_server(proc)
    with store.read() as s:
        rows = s.execute(select(User.name, Decision.key).join(User, User.id == Decision.user_id)).all()
        counters = dict(s.execute(select(User.name, ReviewerStats.decisions)
                                  .join(ReviewerStats, ReviewerStats.user_id == User.id)).all())
    store.dispose()
    stored_keys: dict[str, list[str]] = {}
    for name, key in rows:
        stored_keys.setdefault(name, []).append(key)
    acked = {r.name: r.keys for r in result.reviewers}
    missing = sum(len(r.keys - set(stored_keys.get(r.name, []))) for r in result.reviewers)
    duplicates = sum(len(keys) - len(set(keys)) for keys in stored_keys.values())
    extra = sum(len(set(keys) - acked.get(name, set())) for name, keys in stored_keys.items())
    return LoadCheck(
        figures=result.figures(),
        stored=len(rows),
        stored_by_reviewer={k: len(v) for k, v in stored_keys.items()},
        acknowledged_by_reviewer={r.name: len(r.keys) for r in result.reviewers},
        missing_keys=missing,
        duplicate_keys=duplicates,
        unacknowledged_rows=extra,
        counters_match=all(counters.get(k, 0) == len(v) for k, v in stored_keys.items()),
    )

"""Concurrent reviewers against a running review server: every acknowledged decision must be stored once.

Used by ``tests/review/test_load.py`` and ``benchmarks/bench_review.py``. Each simulated reviewer has its own
bearer token, fetches its queue, and posts decisions with fresh idempotency keys; a share of posts is sent twice
with the same key (a client retry), and the second answer must name the same stored decision.
"""

from __future__ import annotations

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
        pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
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


def _reviewer(base: str, name: str, token: str, stop: float, seed: int, retry_rate: float, out: ReviewerResult) -> None:
    rng = random.Random(seed)
    verdicts = ("accept", "accept", "accept", "reject")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
        items: list[str] = []
        n = 0
        while time.monotonic() < stop:
            try:
                if not items or n % 25 == 0:
                    r = client.get("/api/queue", params={"limit": 3})
                    r.raise_for_status()
                    items = [i["id"] for i in r.json()["items"]] or items
                    if not items:
                        time.sleep(0.05)
                        continue
                item = items[n % len(items)]
                key = f"{name}-{n:07d}-{rng.getrandbits(32):08x}"
                body = {"item_id": item, "key": key, "verdict": verdicts[rng.randrange(len(verdicts))]}
                t0 = time.perf_counter()
                r = client.post("/api/decisions", json=body)
                out.latencies.append(time.perf_counter() - t0)
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
                n += 1
            except httpx.HTTPError as exc:
                out.errors.append(repr(exc))


def run_load(base: str, tokens: dict[str, str], seconds: float, retry_rate: float = 0.05, seed: int = 0) -> LoadResult:
    """Run one thread per reviewer for ``seconds`` against ``base`` (``http://127.0.0.1:PORT``)."""
    results = [ReviewerResult(name) for name in tokens]
    start = time.monotonic()
    stop = start + seconds
    threads = [
        threading.Thread(target=_reviewer, args=(base, r.name, tokens[r.name], stop, seed + i, retry_rate, r))
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


def start_server(out: Path, url: str, *extra: str, timeout: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m radgenome.review.cli OUT --db URL --port P`` (uvicorn on 127.0.0.1); waits for /api/health."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "radgenome.review.cli", str(out), "--db", url, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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
    unacknowledged_rows: int
    """Stored rows whose key no client saw acknowledged."""


def load_check(out: Path, url: str, reviewers: int = 20, seconds: float = 60.0, retry_rate: float = 0.05) -> LoadCheck:
    """Create ``reviewers`` users, run them against a real server on 127.0.0.1, then count what was stored."""
    from sqlalchemy import select

    from radgenome.review.store import Decision, Store, User, add_user

    store = Store(url)
    tokens = {f"rev{i:02d}": add_user(store, f"rev{i:02d}") for i in range(reviewers)}
    proc, base = start_server(out, url)
    try:
        result = run_load(base, tokens, seconds, retry_rate=retry_rate)
    finally:
        stop_server(proc)
    with store.session() as s:
        rows = s.execute(select(User.name, Decision.key).join(User, User.id == Decision.user_id)).all()
    stored_keys: dict[str, set[str]] = {}
    for name, key in rows:
        stored_keys.setdefault(name, set()).add(key)
    missing = sum(len(r.keys - stored_keys.get(r.name, set())) for r in result.reviewers)
    acked = {r.name: r.keys for r in result.reviewers}
    extra = sum(len(keys - acked.get(name, set())) for name, keys in stored_keys.items())
    return LoadCheck(
        figures=result.figures(),
        stored=len(rows),
        stored_by_reviewer={k: len(v) for k, v in stored_keys.items()},
        acknowledged_by_reviewer={r.name: len(r.keys) for r in result.reviewers},
        missing_keys=missing,
        unacknowledged_rows=extra,
    )

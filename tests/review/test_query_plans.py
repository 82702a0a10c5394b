"""Per-request cost is O(items touched): every statement the hot requests run is an index search, never a scan
of the items, assignments, decisions, sessions or users tables (SQLite's EXPLAIN QUERY PLAN). The latency at
100k decisions is measured in benchmarks/bench_review.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

BIG_TABLES = ("items", "assignments", "decisions", "sessions", "users")


@contextmanager
def statements(app: Any) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement the app's engines execute inside the block, with its parameters."""
    store = app.state.ctx.store
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
            seen.append((statement, parameters))

    engines = {store.engine, store.write_engine}
    for e in engines:
        event.listen(e, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", record)


def scans(db: str, seen: list[tuple[str, Any]]) -> list[str]:
    """Plan lines that scan a big table (a full pass over its rows), or that filter a reviewer's rows without
    the reviewer's index (``assignments.user_id = ?`` answered by an index over every reviewer's rows)."""
    bad = []
    with sqlite3.connect(db) as conn:
        for statement, params in seen:
            if statement.lstrip().upper().startswith("INSERT"):
                continue
            flat = " ".join(statement.split())
            for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params):
                detail = str(row[-1])
                if any(detail.startswith(f"SCAN {t}") and "USING" not in detail for t in BIG_TABLES):
                    bad.append(f"{detail}  <-  {flat[:160]}")
                for table in ("assignments", "decisions"):
                    if (f"{table}.user_id = ?" in flat and "(" in detail and detail.startswith(f"SEARCH {table}")
                            and "user_id=?" not in detail and "item_id=?" not in detail and "rowid=?" not in detail):
                        bad.append(f"{detail}  <-  {flat[:160]}")
    return bad


def test_hot_requests_use_indexes_only(sqlite_client: TestClient, sqlite_env: dict) -> None:
    client = sqlite_client
    db = sqlite_env["url"].removeprefix("sqlite:///")
    ann = {"Authorization": f"Bearer {sqlite_env['tokens']['ann']}"}
    login = client.post("/auth/login", json={"token": sqlite_env["tokens"]["bob"]})
    csrf = {"X-CSRF-Token": login.json()["csrf"]}
    with statements(client.app) as seen:
        items = client.post("/api/queue/claim", json={"limit": 10}, headers=ann).json()["items"]
        client.post("/api/queue/claim", json={"limit": 10, "region": "lung"}, headers=csrf)  # bob, by cookie
        client.get("/api/queue", headers=ann)
        client.get(f"/api/items/{items[0]['id']}", headers=ann)
        for i, item in enumerate(items[:3]):
            r = client.post("/api/decisions", headers=ann,
                            json={"item_id": item["id"], "key": f"plan-key-{i:04d}", "verdict": "accept"})
            assert r.status_code == 201
        client.post("/api/decisions", headers=ann,  # a retry
                    json={"item_id": items[0]["id"], "key": "plan-key-0000", "verdict": "accept"})
        client.get("/api/progress", headers=ann)
        client.post("/api/decisions/undo", json={}, headers=ann)
        client.get("/api/queue", headers=ann, params={"state": "decided"})
        client.get("/api/me", headers=csrf)
    assert len(seen) > 30
    assert scans(db, seen) == []

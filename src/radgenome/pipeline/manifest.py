"""``OUT/manifest.sqlite``: per-case state of a build (SQLite in WAL mode, written by the coordinating process).

Table ``cases``: stem, volume, volume path, status (``pending``/``running``/``done``/``failed``, or ``skipped``
for a case of an earlier run that is no longer in the corpus — its record is then not used), reason, input
fingerprint, started/finished (UTC ISO), seconds per stage. Table ``issues``: corpus problems of the last run
(reports without volumes, volumes without reports, duplicates, unreadable rows). Table ``runs``: one row per
invocation.

The manifest mirrors the truth held by the case records: a case is ``done`` only after
``OUT/cases/<stem>.json`` is atomically in place, and a resumed build trusts a record whose stored fingerprint
matches even when a kill -9 came between the record and the manifest update.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radgenome.pipeline.case import STAGES

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS cases (
    stem TEXT PRIMARY KEY,
    volume TEXT NOT NULL,
    volume_path TEXT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    started TEXT,
    finished TEXT,
    {", ".join(f"seconds_{s} REAL" for s in STAGES)}
);
CREATE TABLE IF NOT EXISTS issues (
    kind TEXT NOT NULL,
    volume TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    started TEXT NOT NULL,
    finished TEXT,
    settings TEXT NOT NULL,
    done INTEGER, failed INTEGER, skipped INTEGER
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self, stem: str) -> tuple[str, str] | None:
        """(status, fingerprint) of a case, None when unknown."""
        row = self.db.execute("SELECT status, fingerprint FROM cases WHERE stem=?", (stem,)).fetchone()
        return (row[0], row[1]) if row else None

    def set_status(
        self,
        stem: str,
        volume: str,
        status: str,
        *,
        volume_path: str | None = None,
        fingerprint: str = "",
        reason: str = "",
        timings: dict[str, float] | None = None,
        started: bool = False,
        finished: bool = False,
    ) -> None:
        t = timings or {}
        cols = ["stem", "volume", "volume_path", "status", "reason", "fingerprint"]
        vals: list[Any] = [stem, volume, volume_path, status, reason, fingerprint]
        for s in STAGES:
            cols.append(f"seconds_{s}")
            vals.append(round(t[s], 4) if s in t else None)
        if started:
            cols.append("started")
            vals.append(now())
        if finished:
            cols.append("finished")
            vals.append(now())
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
        self.db.execute(
            f"INSERT INTO cases ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(stem) DO UPDATE SET {updates}",
            vals,
        )

    def retire_others(self, stems: Iterable[str]) -> int:
        """Mark cases of earlier runs that are not in this run's corpus ``skipped``; returns how many."""
        keep = list(stems)
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS current (stem TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM current")
            self.db.executemany("INSERT OR IGNORE INTO current VALUES (?)", [(s,) for s in keep])
            cur = self.db.execute(
                "UPDATE cases SET status='skipped', reason='not in the corpus of the latest run' "
                "WHERE stem NOT IN (SELECT stem FROM current) AND status != 'skipped'"
            )
        return int(cur.rowcount)

    def replace_issues(self, issues: Iterable[tuple[str, str, str, str]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM issues")
            self.db.executemany("INSERT INTO issues VALUES (?, ?, ?, ?)", list(issues))

    def start_run(self, settings: str) -> int:
        cur = self.db.execute("INSERT INTO runs (started, settings) VALUES (?, ?)", (now(), settings))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, done: int, failed: int, skipped: int) -> None:
        self.db.execute(
            "UPDATE runs SET finished=?, done=?, failed=?, skipped=? WHERE rowid=?",
            (now(), done, failed, skipped, run_id),
        )

    def rows(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM cases ORDER BY stem")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

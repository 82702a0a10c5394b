"""``OUT/manifest.sqlite``: per-case state of a build (SQLite in WAL mode, written by the coordinating process).

Table ``cases``: stem, volume, volume path, status (``pending``/``running``/``done``/``failed``, or ``skipped``
for a case of an earlier run that is no longer in the corpus — its record is then not used), reason, input
fingerprint, started/finished (UTC ISO), seconds per stage, and the byte sizes of the case's finished outputs
(``sizes``: JSON ``{"record": n, "labelmap": n, "sidecar": n}``, checked when a resumed build skips a case).
Table ``issues``: corpus problems of the last run (reports without volumes, volumes without reports,
duplicates, unreadable rows). Table ``runs``: one row per invocation.

The manifest mirrors the truth held by the case records: a case is ``done`` only after
``OUT/cases/<stem>.json`` is atomically in place, and a resumed build trusts a record whose stored fingerprint
matches even when a kill -9 came between the record and the manifest update. Since the records hold the truth,
a manifest that is not a readable SQLite database is moved aside (:func:`open_manifest`) and a new one is made.
"""

from __future__ import annotations

import json
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
    {", ".join(f"seconds_{s} REAL" for s in STAGES)},
    sizes TEXT
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
        try:
            self._setup()
        except BaseException:
            self.db.close()
            raise

    def _setup(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(cases)")}
        if "sizes" not in columns:  # a manifest of an earlier version
            self.db.execute("ALTER TABLE cases ADD COLUMN sizes TEXT")

    def check(self) -> None:
        """Raise ``sqlite3.DatabaseError`` unless SQLite's quick integrity check passes."""
        result = self.db.execute("PRAGMA quick_check").fetchone()
        if not result or result[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {result[0] if result else 'no answer'}")

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

    def sizes(self, stem: str) -> dict[str, int] | None:
        """The output sizes recorded when the case finished (None when unknown)."""
        row = self.db.execute("SELECT sizes FROM cases WHERE stem=?", (stem,)).fetchone()
        if not row or not row[0]:
            return None
        try:
            data = json.loads(row[0])
        except ValueError:
            return None
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else None

    def set_sizes(self, stem: str, sizes: dict[str, int]) -> None:
        self.db.execute("UPDATE cases SET sizes=? WHERE stem=?", (json.dumps(sizes, sort_keys=True), stem))

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


def open_manifest(path: Path) -> tuple[Manifest, str | None]:
    """Open the manifest; one that is not a readable SQLite database is renamed ``<name>.corrupt-<UTC time>``
    (with its ``-wal``/``-shm`` files) and replaced by a new one. Returns the manifest and a notice naming the
    moved file (None when nothing was wrong)."""
    path = Path(path)
    manifest: Manifest | None = None
    try:
        manifest = Manifest(path)
        manifest.check()
        return manifest, None
    except sqlite3.OperationalError:  # cannot open, locked, read-only, disk I/O error: not the file's fault
        if manifest is not None:
            manifest.close()
        raise
    except sqlite3.DatabaseError as exc:  # not a database, malformed image, failed integrity check
        if manifest is not None:
            manifest.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = path.with_name(f"{path.name}.corrupt-{stamp}")
        path.replace(moved)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(moved.with_name(moved.name + suffix))
        notice = f"{path}: not a readable manifest ({exc}); moved to {moved.name} and rebuilt from the case records"
        return Manifest(path), notice

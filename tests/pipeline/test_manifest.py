"""The build manifest: WAL SQLite, upserts, issues, cases of earlier runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from radgenome.pipeline.manifest import Manifest


def test_manifest_states(tmp_path: Path) -> None:
    path = tmp_path / "manifest.sqlite"
    with Manifest(path) as m:
        m.set_status("a", "a.nii.gz", "pending", fingerprint="f1")
        m.set_status("a", "a.nii.gz", "done", fingerprint="f1", timings={"load": 1.0, "segment": 2.5},
                     finished=True)
        m.set_status("b", "b.nii.gz", "failed", reason="load: truncated file")
        m.replace_issues([("report_without_volume", "c.nii.gz", "r.csv row 3", "no volume c")])
        m.replace_issues([("volume_without_report", "d", "d.nii.gz", "no report")])
        assert m.state("a") == ("done", "f1") and m.state("zzz") is None
        assert m.retire_others(["a"]) == 1
        rows = {r["stem"]: r for r in m.rows()}
    assert rows["a"]["seconds_segment"] == 2.5 and rows["a"]["finished"]
    assert rows["b"]["status"] == "skipped" and "not in the corpus" in rows["b"]["reason"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT kind FROM issues").fetchall() == [("volume_without_report",)]

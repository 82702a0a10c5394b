"""A corpus mixing good cases with bad ones: the good are complete, each bad one is listed with its reason."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from radgenome.model import BuildSummary

HEADER = ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"]


def _bad_corpus(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    ds = dst / "dataset"
    reports = ds / "radiology_text_reports" / "validation_reports.csv"
    with reports.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    good = rows[1]
    # a corrupt volume (truncated gzip) with a report
    corrupt = ds / "valid_fixed" / "valid_8" / "valid_8_a" / "valid_8_a_1.nii.gz"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(good_bytes(ds)[:3000])
    rows.append(["valid_8_a_1.nii.gz", "", "", "The heart is normal.", "Normal."])
    # an empty report for an existing (good) volume
    empty = ds / "valid_fixed" / "valid_9" / "valid_9_a" / "valid_9_a_1.nii.gz"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(good_bytes(ds))
    rows.append(["valid_9_a_1.nii.gz", "", "", "", ""])
    # a report without volume, a duplicate VolumeName
    rows.append(["valid_7_a_1.nii.gz", "", "", "Both lungs are clear.", "Normal."])
    rows.append([good[0], "", "", "A second report for the same volume.", ""])
    with reports.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *rows[1:]])
    with reports.open("a", encoding="utf-8") as fh:
        fh.write('valid_6_a_1.nii.gz,a,b,c,d,e,f,g\n')  # unreadable row: too many fields
    return dst


def good_bytes(ds: Path) -> bytes:
    return next((ds / "valid_fixed").rglob("valid_1_a_1.nii.gz")).read_bytes()


def test_bad_inputs_are_listed_and_good_cases_complete(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Callable[..., Any]
) -> None:
    root = _bad_corpus(corpus_factory(4), tmp_path / "corpus")
    out = tmp_path / "out"
    res = run(out, root)
    assert res.exit_code == 3
    s = res
    failures = {f.volume: f for f in s.failures}
    assert set(failures) == {"valid_8_a_1", "valid_9_a_1"}
    assert failures["valid_8_a_1"].stage == "load" and "valid_8_a_1.nii.gz" in failures["valid_8_a_1"].reason
    assert "empty report" in failures["valid_9_a_1"].reason
    assert s.reports_without_volumes == ["valid_7_a_1.nii.gz"]
    kinds = {(i.kind, i.volume) for i in s.issues}
    assert ("duplicate_volume", "valid_1_a_1.nii.gz") in kinds
    assert any(k == "unreadable_row" for k, _ in kinds)
    assert all(i.reason for i in s.issues)
    assert s.done == 4 and s.records == 4
    for stem in ("valid_1_a_1", "valid_2_a_1", "train_1_a_1", "train_2_a_1"):
        assert (out / "cases" / f"{stem}.json").is_file() and (out / "masks" / f"{stem}.nii.gz").is_file()
    assert not (out / "cases" / "valid_8_a_1.json").exists()
    with sqlite3.connect(out / "manifest.sqlite") as db:
        status = dict(db.execute("SELECT stem, status FROM cases").fetchall())
        issues = db.execute("SELECT kind, volume FROM issues").fetchall()
    assert status["valid_8_a_1"] == status["valid_9_a_1"] == "failed"
    assert ("report_without_volume", "valid_7_a_1.nii.gz") in issues
    saved = json.loads((out / "summary.json").read_text())
    assert saved["failed"] == 2 and saved["exit_code"] == 3
    assert BuildSummary.from_json((out / "summary.json").read_text()) == res
    log = (out / "build.log").read_text()
    assert "valid_8_a_1" in log and "valid_7_a_1" in log

    # through the CLI: the same exit status, problems printed
    import typer

    from radgenome.pipeline.cli import register

    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        pass

    register(app)
    result = CliRunner().invoke(app, ["build", str(root), "-o", str(out), "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "valid_8_a_1" in result.output and "empty report" in result.output

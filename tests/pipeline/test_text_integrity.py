"""``radgenome text`` treats bad rows like ``build`` does: empty reports and duplicates by stem are row errors
(exit 3, the rest written), legacy-encoded rows are noted, a FIFO or folder is one fatal line, no formula cells."""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.csvcells import is_formula_cell
from radgenome.pipeline.text_run import EMPTY_REPORT, run_text

HEADER = "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n"


def volumes_in(out: Path, table: str = "train_case_disorders.csv") -> list[str]:
    with (out / "radgenome_files" / table).open(newline="", encoding="utf-8") as fh:
        return [row["Volumename"] for row in csv.DictReader(fh)]


def test_empty_reports_and_stem_duplicates_are_row_errors(tmp_path: Path) -> None:
    body = (HEADER + "x_1.nii.gz,,,Heart normal.,\n" + "x_1,,,Contradicting: cardiomegaly.,\n"
            + "e_1.nii.gz,Cough,CT,,\n" + "w_1.nii.gz,,,   ,\t\n" + "y_1.nii.gz,,,,Cardiomegaly.\n")
    p = tmp_path / "r.csv"
    p.write_text(body, encoding="utf-8")
    run = run_text(p, tmp_path / "out")
    assert [a.volume for a in run.analyses] == ["x_1.nii.gz", "y_1.nii.gz"]
    errors = {e.volume: e.message for e in run.row_errors}
    assert errors["e_1.nii.gz"] == errors["w_1.nii.gz"] == EMPTY_REPORT
    assert "duplicate VolumeName stem" in errors["x_1"]
    assert volumes_in(tmp_path / "out") == ["x_1.nii.gz", "y_1.nii.gz"]  # one row per volume, no "no findings" case
    logged = json.loads((tmp_path / "out" / "text_run.json").read_text())
    assert len(logged["row_errors"]) == 3

    res = CliRunner().invoke(app, ["text", str(p), "-o", str(tmp_path / "cli")])
    assert res.exit_code == 3 and "empty report" in res.output and "duplicate" in res.output


def test_legacy_rows_are_noted_and_exit_zero(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_bytes((HEADER + "a_1,,,Nodule – 5 mm.,\n").encode() + "b_1,,,Ödem – none.,\n".encode("cp1252"))
    res = CliRunner().invoke(app, ["text", str(p), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "note" in res.output and "b_1" in res.output and "Windows-1252" in res.output
    logged = json.loads((tmp_path / "out" / "text_run.json").read_text())
    assert len(logged["row_warnings"]) == 1


def test_formula_cells_never_reach_the_tables(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER.strip().split(","))
        for i, c in enumerate(["=", "+", "-", "@", "\t", "\r"]):
            w.writerow([f"case_{i}", "", "", f"{c}1+1 nodule in the left lung. Heart normal.", f"{c}cmd|' /C calc'!A0"])
    run_text(p, tmp_path / "out")
    cells = [c for f in (tmp_path / "out" / "radgenome_files").glob("*.csv")
             for row in csv.reader(f.open(newline="", encoding="utf-8")) for c in row]
    assert cells and not [c for c in cells if is_formula_cell(c)]


@pytest.mark.parametrize("kind", ["fifo", "folder", "dangling"])
def test_reports_that_are_not_a_file_are_one_fatal_line(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "reports.csv"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "folder":
        p.mkdir()
    else:
        p.symlink_to(tmp_path / "nowhere.csv")
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(CliRunner().invoke(app, ["text", str(p), "-o",
                                                                               str(tmp_path / "o")])), daemon=True)
    t.start()
    t.join(timeout=60)
    if t.is_alive():
        with open(p, "w"):
            pass
        pytest.fail("text blocked on its input")
    res = result[0]
    assert res.exit_code == 1 and "Traceback" not in res.output  # type: ignore[attr-defined]
    lines = res.output.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"fatal: {p}: cannot read reports table")

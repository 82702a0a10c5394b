from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.dataset.tables import TABLE_COLUMNS, split_of
from radgenome.synth.reports import generate_reports, write_reports_csv

runner = CliRunner()


def _make(tmp_path: Path) -> Path:
    reports = generate_reports(12, seed=3, volume_prefix="valid") + generate_reports(8, seed=4)
    path = tmp_path / "reports.csv"
    write_reports_csv(reports, path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("hospital_case_9,,,Emphysema in both lungs. No pleural effusion.,Emphysema.\n")
        fh.write(",,,orphan row without a volume,\n")
    return path


def test_text_writes_every_table_with_exact_columns(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["text", str(_make(tmp_path)), "-o", str(out), "--split", "test"])
    assert res.exit_code == 3, res.output  # the orphan row is reported, the rest is written
    files = out / "radgenome_files"
    for split in ("validation", "train", "test"):
        for name, cols in TABLE_COLUMNS.items():
            with (files / f"{split}_{name}.csv").open(newline="") as fh:
                header = next(csv.reader(fh))
            assert tuple(header) == cols
    table = pq.read_table(out / "sentences.parquet")
    assert {"volume", "section", "index", "text", "start", "end", "nodes", "paths", "polarity", "findings",
            "measurements", "backend", "version"} <= set(table.column_names)
    assert set(table.column("backend").to_pylist()) == {"rules"}


def test_rows_follow_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner.invoke(app, ["text", str(_make(tmp_path)), "-o", str(out)])
    files = out / "radgenome_files"
    with (files / "train_region_report.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    hospital = [r for r in rows if r["Volumename"] == "hospital_case_9"]
    assert hospital[0]["Anatomy"] == "" and hospital[0]["Sentence"].startswith("Emphysema in both lungs.")
    anatomy = {r["Anatomy"] for r in hospital}
    assert {"lung", "lung/lung", "lung/lung/left lung", "lung/lung/right lung", "pleura", "pleura/pleura"} <= anatomy
    with (files / "train_vqa_presence.csv").open(newline="") as fh:
        presence = [r for r in csv.DictReader(fh) if r["Volumename"] == "hospital_case_9"]
    expected = {"Anatomy": "pleura", "Finding": "pleural effusion", "Presence": "No.", "Volumename": "hospital_case_9"}
    assert expected in presence
    assert any(r["Anatomy"] == "lung/lung/left lung" and r["Presence"] == "Yes." for r in presence)
    with (files / "train_vqa_abnormality.csv").open(newline="") as fh:
        abn = {r["Anatomy"]: r["Abnormality"] for r in csv.DictReader(fh) if r["Volumename"] == "hospital_case_9"}
    assert abn["pleura"] == "no findings"
    assert "emphysema" in abn["lung"]
    with (files / "train_case_disorders.csv").open(newline="") as fh:
        dis = {r["Volumename"]: r["Disorders"] for r in csv.DictReader(fh)}
    assert dis["hospital_case_9"] == "emphysema"


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    src = _make(tmp_path)
    runner.invoke(app, ["text", str(src), "-o", str(tmp_path / "a")])
    runner.invoke(app, ["text", str(src), "-o", str(tmp_path / "b")])
    for f in sorted((tmp_path / "a" / "radgenome_files").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "radgenome_files" / f.name).read_bytes(), f.name


def test_unusable_table_is_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    res = runner.invoke(app, ["text", str(bad), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1


def test_split_prefix() -> None:
    assert split_of("train_1_a_1.nii.gz") == "train"
    assert split_of("valid_1_a_1.nii.gz") == "validation"
    assert split_of("case_1", "test") == "test"

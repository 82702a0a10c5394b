"""The corrected release: byte-for-byte kept rows, escaping of what the audit writes, unreadable rows and the
command's exit status."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from radgenome.audit import run_audit
from radgenome.audit.release import classify, read_release
from radgenome.cli import app
from radgenome.csvcells import is_formula_cell

from .conftest import read_csv, write_reports, write_table

V1 = "train_1_a_1.nii.gz"
REPORT = ("Pericardial effusion was not observed. There is a 5 mm nodule in the right lung lower lobe. "
          "Minimal pleural effusion is observed on the right.", "")


def test_supported_rows_are_kept_byte_for_byte(release: Path, tmp_path: Path) -> None:
    # odd but valid CSV: CRLF line ends, a needlessly quoted cell, a quoted comma, a BOM
    raw = (
        "\ufeffVolumename,Anatomy,Finding,Presence\r\n"
        f'{V1},"pleura",pleural effusion,Yes.\r\n'
        f'{V1},heart,"pericardial effusion, pericardial thickening",Yes.\r\n'
        f'{V1},lung/lung/lung lower lobe/right lung lower lobe,nodule,Yes.\r\n'
    )
    release.mkdir()
    (release / "train_vqa_presence.csv").write_bytes(raw.encode("utf-8"))
    reports = write_reports(tmp_path / "reports.csv", {V1: REPORT})
    run_audit(release, reports, tmp_path / "out")
    data = (tmp_path / "out/radgenome_files/train_vqa_presence.csv").read_bytes()
    lines = data.decode("utf-8").split("\r\n")
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM stays
    assert lines[1] == f'{V1},"pleura",pleural effusion,Yes.'  # supported: the exact bytes, quotes and all
    assert lines[2] == f"{V1},heart,pericardial thickening,Yes."  # fixed: written anew
    assert lines[3] == f"{V1},lung/lung/lung lower lobe/right lung lower lobe,nodule,Yes."
    assert all(line.endswith("No.") for line in lines[4:] if line)  # added stated negatives, same line ends


def test_size_mm_appended_to_raw_rows(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_size", [(V1, "lung/lung/right lung", "nodule", "5 mm")], newline="\r\n")
    run_audit(release, write_reports(tmp_path / "r.csv", {V1: REPORT}), tmp_path / "out")
    text = (tmp_path / "out/radgenome_files/train_vqa_size.csv").read_bytes().decode()
    assert text == f"Volumename,Anatomy,Abnormality,Size,size_mm\r\n{V1},lung/lung/right lung,nodule,5 mm,5\r\n"


def test_what_the_audit_writes_is_formula_escaped(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [
        (V1, "heart", "=HYPERLINK(\"x\"), pericardial effusion"),  # fixed: the formula phrase survives, escaped
        (V1, "bone", "@SUM(1)"),  # kept (unsupported) but rewritten escaped
    ])
    run_audit(release, write_reports(tmp_path / "r.csv", {V1: REPORT}), tmp_path / "out", review=True)
    out = tmp_path / "out"
    for path in [out / "audit.csv", out / "changes.csv", out / "review_queue.csv",
                 out / "radgenome_files/train_vqa_location.csv"]:
        text = path.read_text(encoding="utf-8")
        cells = [c for line in text.splitlines() for c in line.split(",")]
        assert not any(is_formula_cell(c.strip('"')) for c in cells), path.name
    rows = read_csv(out / "radgenome_files/train_vqa_location.csv")
    assert rows[0]["Abnormality"] == "'=HYPERLINK(\"x\")"
    assert rows[1]["Abnormality"] == "'@SUM(1)"
    actions = {(c["row"], c["action"]) for c in read_csv(out / "changes.csv")}
    assert actions == {("1", "fixed"), ("2", "escaped")}


def test_unreadable_rows_are_named_kept_and_exit_3(release: Path, tmp_path: Path) -> None:
    release.mkdir()
    (release / "train_vqa_location.csv").write_text(
        "Volumename,Anatomy,Abnormality\n"
        f"{V1},heart,pericardial effusion\n"
        f"{V1},lung,nodule,extra,fields\n"
        ",lung,nodule\n"
        f"{V1},lung/lung/right lung,nodule\n",
        encoding="utf-8",
    )
    reports = write_reports(tmp_path / "r.csv", {V1: REPORT})
    result = CliRunner().invoke(app, ["audit", str(release), "--reports", str(reports), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "train_vqa_location.csv row 2: 5 fields for 3 columns" in result.output
    assert "train_vqa_location.csv row 3: empty Volumename" in result.output
    audit = {int(r["row"]): r for r in read_csv(tmp_path / "out/audit.csv")}
    assert audit[2]["verdict"] == "not_checked" and audit[2]["reason"].startswith("unreadable_row")
    assert audit[4]["verdict"] == "supported"
    text = (tmp_path / "out/radgenome_files/train_vqa_location.csv").read_text()
    assert f"{V1},lung,nodule,extra,fields\n" in text  # not understood, so not changed
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert [(p["row"], p["message"]) for p in summary["problems"]] == [(2, "5 fields for 3 columns"),
                                                                       (3, "empty Volumename")]


def test_clean_run_exits_0_and_fatal_errors_exit_1(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [(V1, "lung/lung/right lung", "nodule")])
    reports = write_reports(tmp_path / "r.csv", {V1: REPORT})
    ok = CliRunner().invoke(app, ["audit", str(release), "--reports", str(reports), "-o", str(tmp_path / "o")])
    assert ok.exit_code == 0, ok.output
    for name in ("audit.csv", "changes.csv", "audit.html", "summary.json", "radgenome_files"):
        assert (tmp_path / "o" / name).exists()
    missing = CliRunner().invoke(app, ["audit", str(tmp_path / "nope"), "--reports", str(reports), "-o",
                                       str(tmp_path / "o2")])
    assert missing.exit_code == 1
    assert missing.output.strip().splitlines()[-1].startswith("fatal: ") and "nope" in missing.output
    assert "Traceback" not in missing.output
    no_reports = CliRunner().invoke(app, ["audit", str(release), "--reports", str(tmp_path / "none.csv"), "-o",
                                          str(tmp_path / "o3")])
    assert no_reports.exit_code == 1 and "none.csv" in no_reports.output


def test_release_reading_keeps_records_and_ignores_other_files(release: Path) -> None:
    release.mkdir()
    (release / "train_vqa_location.csv").write_text(
        'Volumename,Anatomy,Abnormality\n\ntrain_1.nii.gz,lung,"a\nmultiline, cell"\ntrain_2.nii.gz,bone,x\n\n',
        encoding="utf-8",
    )
    (release / "README.md").write_text("not a table")
    (release / "train_vqa_presence.csv").write_text("Volumename,Question\n")
    rel = read_release(release)
    assert rel.ignored == ["README.md"]
    assert [p.name for p in rel.unreadable_files] == ["train_vqa_presence.csv"]
    (table,) = rel.tables
    assert [r.row for r in table.rows] == [1, 2]
    assert table.rows[0].raw == '\ntrain_1.nii.gz,lung,"a\nmultiline, cell"\n'
    assert table.rows[0].cells[2] == "a\nmultiline, cell"
    assert table.trailing == "\n"
    assert classify("validation_region_report_top.csv") is not None
    assert classify("train_vqa_abnormality.csv") is not None
    assert classify("train_abnormality_labels.csv") is None


def test_review_queue_meta(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [(V1, "heart", "pericardial effusion"), (V1, "bone", "fracture")])
    run_audit(release, write_reports(tmp_path / "r.csv", {V1: REPORT}), tmp_path / "out", review=True)
    meta = json.loads((tmp_path / "out/review_queue.json").read_text())
    queue = read_csv(tmp_path / "out/review_queue.csv")
    assert meta["format"] == "radgenome-audit-queue" and meta["version"] == 1 and meta["items"] == len(queue) == 2
    assert list(queue[0]) == meta["columns"]
    assert [q["verdict"] for q in queue] == ["contradicted", "unsupported"]
    assert queue[0]["proposed_action"] == "removed"
    assert len({q["item_id"] for q in queue}) == 2

from __future__ import annotations

from pathlib import Path

import pytest

from radgenome.corpus.reports import ReportTableError, clean_text, read_reports
from radgenome.model import Report, Section
from radgenome.text.sections import split_sections

HEADER = "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n"


def write(tmp_path: Path, body: str, encoding: str = "utf-8", bom: bool = False) -> Path:
    p = tmp_path / "reports.csv"
    data = (HEADER + body).encode(encoding)
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return p


def test_bom_and_any_safe_volume_name(tmp_path: Path) -> None:
    reports, errors = read_reports(write(tmp_path, "MyHospital-case.7,,,Heart normal.,\n", bom=True))
    assert errors == []
    assert reports[0].volume == "MyHospital-case.7"
    assert reports[0].findings == "Heart normal."
    assert reports[0].impressions == ""


def test_legacy_encoding_and_html_remnants(tmp_path: Path) -> None:
    body = 'valid_1_a_1.nii.gz,,,"Nodule 5 mm.&nbsp;Heart normal.<br>Liver: 12 mm cyst.",Sjögren?\n'
    reports, _ = read_reports(write(tmp_path, body, encoding="cp1252"))
    assert reports[0].findings == "Nodule 5 mm. Heart normal.\nLiver: 12 mm cyst."
    assert reports[0].impressions == "Sjögren?"


def test_missing_text_columns_and_extra_columns(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("volumename,Findings,foo\ncase_1,Emphysema.,x\n", encoding="utf-8")
    reports, errors = read_reports(p)
    assert errors == [] and reports[0].findings == "Emphysema." and reports[0].technique == ""


def test_bad_rows_are_named_and_the_rest_go_on(tmp_path: Path) -> None:
    body = "a_1,,,Fine.,\n,,,No name.,\nb_1,,,x,y,z,extra\na_1,,,Duplicate.,\nc_1,,,Also fine.,\n"
    reports, errors = read_reports(write(tmp_path, body))
    assert [r.volume for r in reports] == ["a_1", "c_1"]
    messages = [str(e) for e in errors]
    assert messages[0].startswith("row 2") and "empty VolumeName" in messages[0]
    assert messages[1].startswith("row 3") and "fields" in messages[1]
    assert messages[2].startswith("row 4 (a_1)") and "duplicate" in messages[2]


def test_one_megabyte_report(tmp_path: Path) -> None:
    big = "Linear atelectasis in the right lower lobe. " * 25_000
    reports, errors = read_reports(write(tmp_path, f'big_1,,,"{big}",\n'))
    assert errors == [] and len(reports[0].findings) > 1_000_000


def test_unusable_tables_raise(tmp_path: Path) -> None:
    with pytest.raises(ReportTableError, match="cannot read"):
        read_reports(tmp_path / "missing.csv")
    p = tmp_path / "nohead.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ReportTableError, match="no VolumeName"):
        read_reports(p)


def test_clean_text_keeps_wording() -> None:
    assert clean_text("A &amp; B<br/>C\u00a0D") == "A & B\nC D"
    assert clean_text(None) == ""


def test_headers_inside_a_column_route_text_to_their_section() -> None:
    r = Report(volume="x", findings="FINDINGS: Heart normal. IMPRESSION: No acute finding.")
    pieces = split_sections(r)
    assert [(s, t.strip()) for s, t, _ in pieces] == [
        (Section.FINDINGS, "Heart normal."),
        (Section.IMPRESSIONS, "No acute finding."),
    ]
    for _, text, offset in pieces:
        assert r.findings[offset : offset + len(text)] == text

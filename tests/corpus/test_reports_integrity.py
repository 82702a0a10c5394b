"""The reports reader at the edges: swallowed rows, per-row decoding, unsafe VolumeNames, duplicates by stem,
escaped cells, and inputs that are not regular files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radgenome.corpus.names import MAX_VOLUME_NAME, volume_name_problem
from radgenome.corpus.reports import ReportTableError, read_report_table
from radgenome.csvcells import SafeDictWriter, is_formula_cell

HEADER = "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n"


def table(tmp_path: Path, body: bytes | str, name: str = "reports.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return p


def test_unbalanced_quote_fails_the_row_and_every_row_it_swallowed_naming_both(tmp_path: Path) -> None:
    body = (HEADER + 'a_1.nii.gz,,,"Heart normal.,No acute finding.\n'
            "b_1.nii.gz,,,Lungs clear.,Normal.\n"
            'c_1.nii.gz,,,"Liver normal.",Normal.\n'
            "d_1.nii.gz,,,Spleen normal.,Normal.\n")
    t = read_report_table(table(tmp_path, body))
    assert [r.volume for r in t.reports] == ["d_1.nii.gz"]  # nobody's findings recorded under a_1
    by_volume = {e.volume: e for e in t.errors}
    assert set(by_volume) == {"a_1.nii.gz", "b_1.nii.gz", "c_1.nii.gz"}
    assert all(e.kind == "swallowed" for e in t.errors)
    assert "b_1.nii.gz" in by_volume["a_1.nii.gz"].message and "c_1.nii.gz" in by_volume["a_1.nii.gz"].message
    assert "a_1.nii.gz" in by_volume["b_1.nii.gz"].message and "line 3" in str(by_volume["b_1.nii.gz"])


def test_unbalanced_quote_to_the_end_of_the_file(tmp_path: Path) -> None:
    body = HEADER + "a_1.nii.gz,,,Fine.,\n" + 'b_1.nii.gz,,,"Open quote,\n' + "c_1.nii.gz,,,Also fine.,\n"
    t = read_report_table(table(tmp_path, body))
    assert [r.volume for r in t.reports] == ["a_1.nii.gz"]
    assert {e.volume for e in t.errors} == {"b_1.nii.gz", "c_1.nii.gz"}


def test_swallowed_rows_without_suffix_are_found_by_the_shape_of_the_files_names(tmp_path: Path) -> None:
    body = HEADER + "case_001,,,Fine.,\n" + 'case_002,,,"Open,\ncase_003,,,Lungs clear.,\n' + 'case_004,,,"x",y\n'
    t = read_report_table(table(tmp_path, body))
    assert {e.volume for e in t.errors} == {"case_002", "case_003", "case_004"}
    assert [r.volume for r in t.reports] == ["case_001"]


def test_a_multiline_field_that_only_mentions_a_name_is_kept(tmp_path: Path) -> None:
    body = HEADER + 'a_1.nii.gz,,,"Heart normal.\nCompared with b_1.nii.gz the lungs are clear.",Normal.\n'
    t = read_report_table(table(tmp_path, body))
    assert t.errors == [] and len(t.reports) == 1


def test_one_legacy_byte_decodes_only_its_row_and_reports_it(tmp_path: Path) -> None:
    body = (HEADER + "a_1.nii.gz,,,Size 5 – 6 mm.,Naïve.\n").encode("utf-8")
    body += "b_1.nii.gz,,,Sjögren – stable,\n".encode("cp1252")
    body += "c_1.nii.gz,,,Nodule – 4 mm.,\n".encode()
    t = read_report_table(table(tmp_path, body))
    findings = {r.volume: r.findings for r in t.reports}
    assert findings == {"a_1.nii.gz": "Size 5 – 6 mm.", "b_1.nii.gz": "Sjögren – stable",
                        "c_1.nii.gz": "Nodule – 4 mm."}  # the UTF-8 rows are not garbled (no â€“)
    assert [(w.row, w.volume) for w in t.warnings] == [(2, "b_1.nii.gz")]
    assert "Windows-1252" in str(t.warnings[0]) and t.encoding == "utf-8+cp1252"


def test_a_legacy_byte_inside_a_multiline_field_is_reported_on_its_row(tmp_path: Path) -> None:
    body = (HEADER + 'a_1.nii.gz,,,"Line one.\n').encode() + "Line two – é.\",\n".encode("cp1252")
    t = read_report_table(table(tmp_path, body))
    assert t.reports[0].findings == "Line one.\nLine two – é."
    assert len(t.warnings) == 1 and "line 3" in t.warnings[0].message


def test_utf16_file(tmp_path: Path) -> None:
    t = read_report_table(table(tmp_path, (HEADER + "a_1,,,Ödem – none.,\n").encode("utf-16")))
    assert t.reports[0].findings == "Ödem – none." and t.encoding == "utf-16"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../etc/x.nii.gz", "path separator"),
        ("a/b.nii.gz", "path separator"),
        ("a\\b.nii.gz", "path separator"),
        ("a..b.nii.gz", "'..'"),
        ("..", "'..'"),
        ("x\x00y.nii.gz", "NUL"),
        ("v" * (MAX_VOLUME_NAME + 1), "characters long"),
        ("=HYPERLINK(1)", "outside"),
        ("+1", "outside"),
        ("-1.nii.gz", "start with a letter or digit"),
        ("@SUM", "outside"),
        (".hidden.nii.gz", "start with a letter or digit"),
        ("a b.nii.gz", "outside"),
        ("caso_ñ.nii.gz", "outside"),
    ],
)
def test_unsafe_volume_names_fail_alone(tmp_path: Path, name: str, why: str) -> None:
    body = HEADER + "good_1.nii.gz,,,Fine.,\n" + f'"{name}",,,Heart normal.,\n' + "good_2.nii.gz,,,Fine.,\n"
    t = read_report_table(table(tmp_path, body))
    assert [r.volume for r in t.reports] == ["good_1.nii.gz", "good_2.nii.gz"]
    assert len(t.errors) == 1 and t.errors[0].kind == "invalid_name" and why in t.errors[0].message
    assert "\x00" not in str(t.errors[0])  # printable


@given(st.text(max_size=200))
def test_every_accepted_name_is_one_safe_path_component_and_no_formula(name: str) -> None:
    if volume_name_problem(name) is None:
        assert "/" not in name and "\\" not in name and ".." not in name and "\x00" not in name
        assert not name.startswith(".") and not is_formula_cell(name) and 0 < len(name) <= MAX_VOLUME_NAME
        assert len((f".{name}.nii.gz.abcdefgh.tmp").encode()) <= 255


def test_duplicates_by_stem_keep_the_first(tmp_path: Path) -> None:
    body = HEADER + "x_1.nii.gz,,,First.,\n" + "x_1,,,Second.,\n" + "x_1.nii,,,Third.,\n"
    t = read_report_table(table(tmp_path, body))
    assert [r.findings for r in t.reports] == ["First."]
    assert [e.kind for e in t.errors] == ["duplicate", "duplicate"]
    assert "stem" in t.errors[0].message and "row 1" in t.errors[0].message


def test_our_escaped_cells_read_back_exactly(tmp_path: Path) -> None:
    p = tmp_path / "ours.csv"
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = SafeDictWriter(fh, fieldnames=["VolumeName", "Findings_EN", "Impressions_EN"])
        w.writeheader()
        w.writerow({"VolumeName": "a_1", "Findings_EN": "- Lungs: clear.", "Impressions_EN": "=no finding"})
    assert "'- Lungs" in p.read_text()
    t = read_report_table(p)
    assert (t.reports[0].findings, t.reports[0].impressions) == ("- Lungs: clear.", "=no finding")


def test_a_fifo_folder_or_dangling_link_is_refused_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "reports.fifo"
    os.mkfifo(fifo)
    errors: list[Exception] = []

    def read() -> None:
        try:
            read_report_table(fifo)
        except ReportTableError as exc:
            errors.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # it hangs in open(): release it so the test process can end, and fail
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert errors and "FIFO" in str(errors[0]) and str(fifo) in str(errors[0])
    with pytest.raises(ReportTableError, match="is a folder"):
        read_report_table(tmp_path)
    (tmp_path / "link.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(ReportTableError, match="dangling symbolic link"):
        read_report_table(tmp_path / "link.csv")

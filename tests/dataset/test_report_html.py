"""report.html: one self-contained page with every section, robust to a sparse summary."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from radgenome.dataset.report_html import write_report
from radgenome.pipeline.record import CaseRecord

SECTIONS = ("volumes", "regions", "vqa", "masks", "flags", "timing", "provenance")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "img":
            self.images.append(str(a.get("src")))
        if tag in {"script", "link"} and (a.get("src") or a.get("href")):
            self.external.append(str(a.get("src") or a.get("href")))


def test_report_sections_and_plots(built: tuple[Path, list[CaseRecord]]) -> None:
    out, records = built
    summary = {
        "done": len(records),
        "failed": [{"case": "train_9_a_1", "reason": "corrupt volume: not a gzip file"}],
        "skipped": {"train_8_a_1": "empty report"},
        "orphans": [("valid_7_a_1", "report without volume")],
        "stage_seconds": {"load": 1.5, "segment": 4.0},
    }
    path = write_report(out, records, summary)
    assert path == out / "report.html"
    html = path.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(html)
    assert set(SECTIONS) <= parser.ids
    assert len(parser.images) >= 6 and all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert not parser.external
    for text in (
        "corrupt volume: not a gzip file",
        "empty report",
        "report without volume",
        "train_9_a_1",
        "empty_mask",
        "No pleural effusion.",
        "no_structure",
        "abnormality",
        "given region",
        "phantom 1",
    ):
        assert text in html, text
    # mask volumes come from the sidecars: the lung row is there with a positive median
    assert '<td>lung</td><td class="num">2</td>' in html


def test_report_with_empty_summary_and_no_records(tmp_path: Path) -> None:
    path = write_report(tmp_path, [], {})
    html = path.read_text(encoding="utf-8")
    assert "no grounded sentences" in html and "no label maps" in html and "no flags" in html


def test_report_reads_the_pipeline_summary_shape(built: tuple[Path, list[CaseRecord]], tmp_path: Path) -> None:
    out, records = built
    summary = {
        "cases": 4,
        "done": 2,
        "skipped": 1,
        "failed": 1,
        "failures": [{"volume": "train_7_a_1", "stage": "load", "reason": "not a gzip file"}],
        "issues": [{"kind": "report_without_volume", "volume": "valid_3_a_1", "source": "r.csv", "reason": "none"}],
        "seconds_per_stage": {"load": 0.5, "segment": 2.25},
        "mask_status": {"ok": 3},
        "seconds_finalize": 1.5,
    }
    html = write_report(out, records, summary).read_text(encoding="utf-8")
    assert "load: not a gzip file" in html and "train_7_a_1" in html
    assert "report_without_volume: none [r.csv]" in html
    assert "2.25" in html and "seconds_finalize" in html

"""report.html: one self-contained page with every section, from the finalising pass and the typed summary."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from radgenome.dataset.report_html import write_report
from radgenome.dataset.report_stats import StatsCollector
from radgenome.dataset.writers import finalize_build
from radgenome.model import BuildSummary, CaseFailure, CaseRecord, CorpusIssue

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


def _summary() -> BuildSummary:
    return BuildSummary(
        cases=4,
        done=2,
        skipped=1,
        failed=1,
        failures=[CaseFailure("train_7_a_1", "load", "corrupt volume: not a gzip file")],
        issues=[CorpusIssue("report_without_volume", "valid_3_a_1", "r.csv", "report without volume"),
                CorpusIssue("unreadable_row", "", "r.csv row 9", "empty VolumeName")],
        seconds_per_stage={"load": 0.5, "segment": 2.25},
        seconds_finalize=1.5,
    )


def test_report_sections_and_plots(built: tuple[Path, list[CaseRecord]]) -> None:
    out, records = built
    stats = finalize_build(out, records, seed=0).stats
    path = write_report(out, stats.report_stats(_summary()), _summary())
    assert path == out / "report.html"
    html = path.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(html)
    assert set(SECTIONS) <= parser.ids
    assert len(parser.images) >= 6 and all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert not parser.external
    for text in (
        "load: corrupt volume: not a gzip file",
        "train_7_a_1",
        "report_without_volume: report without volume [r.csv]",
        "unreadable_row: empty VolumeName [r.csv row 9]",
        "empty_mask",
        "No pleural effusion.",
        "no_structure",
        "abnormality",
        "given region",
        "phantom 1",
        "2.25",
        "seconds_finalize",
    ):
        assert text in html, text
    # mask volumes come from the sidecars: the lung row is there with a positive median
    assert '<td>lung</td><td class="num">2</td>' in html


def test_report_with_empty_summary_and_no_records(tmp_path: Path) -> None:
    summary = BuildSummary()
    path = write_report(tmp_path, StatsCollector().report_stats(summary), summary)
    html = path.read_text(encoding="utf-8")
    assert "no grounded sentences" in html and "no label maps" in html and "no flags" in html


def test_stats_count_what_the_tables_hold(built: tuple[Path, list[CaseRecord]]) -> None:
    out, records = built
    collected = finalize_build(out, records, seed=0).stats
    stats = collected.report_stats(BuildSummary(done=len(records)))
    assert stats.n_records == len(records) == sum(stats.splits.values())
    import pyarrow.parquet as pq

    qa = pq.read_table(out / "dataset" / "qa_pairs.parquet", columns=["kind", "variant"]).to_pylist()
    assert sum(sum(v.values()) for v in stats.qa_per_kind.values()) == len(qa)
    sentences = pq.read_table(out / "dataset" / "grounded_sentences.parquet", columns=["in_region_report"])
    assert stats.n_sentences == sum(sentences.column("in_region_report").to_pylist())
    assert collected.summary_mask_status() == {
        k: v for k, v in sorted(stats.mask_status.items())
    }

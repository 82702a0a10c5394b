"""``radgenome text``: reports table -> RadGenome tables + sentences.parquet."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from radgenome.corpus.reports import ReportTableError, RowError, read_reports
from radgenome.dataset.sentences_parquet import write_sentences_parquet
from radgenome.dataset.tables import write_radgenome_tables
from radgenome.model import Report, ReportAnalysis
from radgenome.text.engine import RulesBackend

if TYPE_CHECKING:
    from radgenome.text.llm.settings import LLMSettings

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_PARTIAL = 3


@dataclass
class TextRun:
    analyses: list[ReportAnalysis]
    row_errors: list[RowError]
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(volume, reason) of reports the engine could not analyse."""
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def analyze_reports(
    reports: Sequence[Report],
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[ReportAnalysis], list[tuple[str, str]]]:
    """Run the rules backend over reports; a report that raises is listed as failed, the others go on."""
    backend = RulesBackend()
    analyses: list[ReportAnalysis] = []
    failed: list[tuple[str, str]] = []
    for i, report in enumerate(reports, 1):
        try:
            analyses.append(backend.analyze(report))
        except Exception as exc:  # one bad report never stops the corpus
            log.exception("text analysis failed for %s", report.volume)
            failed.append((report.volume, f"{type(exc).__name__}: {exc}"))
        if on_progress is not None and (i % 256 == 0 or i == len(reports)):
            on_progress(i)
    return analyses, failed


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk pass.

    The text stages allocate millions of small, acyclic, long-lived objects (sentences, findings, rows); the
    collector's full passes over them cost about a quarter of the run. Reference counting still frees
    everything; the few cycles wait for the collector's next pass after this one.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_text(
    reports_csv: Path,
    out: Path,
    *,
    backend: str = "rules",
    split: str = "train",
    llm: LLMSettings | None = None,
    console: Console | None = None,
) -> TextRun:
    """Read, analyse and write; raises :class:`ReportTableError` when the table itself is unusable."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    with gc_paused():
        return _run_text(reports_csv, out, backend=backend, split=split, llm=llm, console=console, started=started)


def _run_text(
    reports_csv: Path,
    out: Path,
    *,
    backend: str,
    split: str,
    llm: LLMSettings | None,
    console: Console,
    started: float,
) -> TextRun:
    reports, row_errors = read_reports(reports_csv)
    rules = RulesBackend()
    provenance: dict[str, Any] = {"backend": backend, "version": rules.version}
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("rules", total=len(reports))
        analyses, failed = analyze_reports(reports, lambda n: progress.update(task, completed=n))
        if backend in ("llm", "hybrid"):
            from radgenome.text.llm.backend import LLMBackend

            if llm is None:
                raise ValueError("--backend llm/hybrid needs --llm-base-url and --llm-model")
            llm_backend = LLMBackend(llm)
            try:
                task2 = progress.add_task(backend, total=len(analyses))
                analyses = llm_backend.refine_many(analyses, progress=lambda n: progress.update(task2, completed=n))
                provenance.update(llm_backend.provenance())
                provenance["llm_stats"] = llm_backend.stats.as_dict()
            finally:
                llm_backend.close()
        elif backend != "rules":
            raise ValueError(f"unknown text backend {backend!r} (rules, llm, hybrid)")
    out.mkdir(parents=True, exist_ok=True)
    write_radgenome_tables(analyses, out / "radgenome_files", default_split=split)
    write_sentences_parquet(analyses, out / "sentences.parquet", provenance)
    run = TextRun(analyses, row_errors, failed, provenance, time.perf_counter() - started)
    _write_run_log(run, reports_csv, out)
    return run


def _write_run_log(run: TextRun, reports_csv: Path, out: Path) -> None:
    info = {
        "reports_csv": str(reports_csv),
        "reports": len(run.analyses),
        "sentences": sum(len(a.sentences) for a in run.analyses),
        "row_errors": [str(e) for e in run.row_errors],
        "failed": [{"volume": v, "reason": r} for v, r in run.failed],
        "provenance": run.provenance,
        "seconds": round(run.seconds, 3),
    }
    (out / "text_run.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def run_text_command(
    reports: Path, out: Path, *, backend: str = "rules", split: str = "train", llm: LLMSettings | None = None
) -> int:
    """CLI entry for ``radgenome text``; returns the exit code (0 ok, 3 some rows failed, 1 fatal)."""
    console = Console(stderr=True)
    try:
        run = run_text(reports, out, backend=backend, split=split, llm=llm, console=console)
    except (ReportTableError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return EXIT_FATAL
    n_sent = sum(len(a.sentences) for a in run.analyses)
    rate = len(run.analyses) / run.seconds if run.seconds else 0.0
    console.print(
        f"[green]wrote[/green] {out}/radgenome_files and {out}/sentences.parquet: {len(run.analyses)} reports, "
        f"{n_sent} sentences in {run.seconds:.2f} s ({rate:,.0f} reports/s)"
    )
    problems = [str(e) for e in run.row_errors] + [f"{v}: {r}" for v, r in run.failed]
    for line in problems:
        console.print(f"[yellow]skipped[/yellow] {line}")
    return EXIT_PARTIAL if problems else EXIT_OK

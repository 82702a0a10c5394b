"""``radgenome text``: reports table -> RadGenome tables + sentences.parquet (no imaging)."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radgenome.atomic import atomic_write_text
from radgenome.corpus.reports import ReportTableError, RowError, RowWarning, read_report_table
from radgenome.dataset.sentences_parquet import write_sentences_parquet
from radgenome.dataset.tables import write_radgenome_tables
from radgenome.model import OutputLayout, Report, ReportAnalysis
from radgenome.text.base import OK, Progress, RunVerdict, TextBackend, TextFailure
from radgenome.text.registry import get_text_backend

log = logging.getLogger(__name__)

EMPTY_REPORT = "empty report (no findings and no impressions text)"


@dataclass
class TextRun:
    """What a text run read, analysed and could not analyse."""

    analyses: list[ReportAnalysis]
    row_errors: list[RowError]
    """Rows not used: unreadable, swallowed, unsafe or duplicate VolumeNames (by stem), empty reports."""
    failed: list[TextFailure] = field(default_factory=list)
    """Reports the backend could not analyse."""
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    row_warnings: list[RowWarning] = field(default_factory=list)
    """Rows used after a fallback (decoded as Windows-1252)."""
    verdict: RunVerdict = OK
    """How the backend's run went as a whole: not ``ok`` when an LLM backend answered too few of the sentences
    sent to it or aborted (the outputs are written all the same, the affected sentences flagged)."""
    log: Path | None = None
    """The backend's per-sentence log, when it kept one (``OUT/llm_log.jsonl``)."""


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
    backend: str | TextBackend = "rules",
    backend_options: dict[str, Any] | None = None,
    split: str = "train",
    progress: Progress | None = None,
) -> TextRun:
    """Read, analyse and write ``OUT/radgenome_files/`` and ``OUT/sentences.parquet`` (+ ``text_run.json``, and
    ``llm_log.jsonl`` for an LLM backend).

    ``backend``: a registry name (built with ``backend_options``, closed at the end) or a ready backend. Raises
    :class:`~radgenome.corpus.reports.ReportTableError` when the table itself is unusable and
    :class:`~radgenome.text.base.TextBackendError` when the backend cannot be built or cannot work (an LLM
    server that fails its preflight); a row or report that cannot be used is listed in the result and the others
    go on. As in a build, two rows with the same stem (``X.nii.gz`` and ``X``) are a duplicate (the first wins)
    and a report with neither findings nor impression text is a row error, not a case without findings.
    ``KeyboardInterrupt`` propagates (nothing is written; the LLM answer cache keeps what came back).
    """
    started = time.perf_counter()
    with gc_paused():
        table = read_report_table(reports_csv)
        if not table.reports and not table.errors:
            raise ReportTableError(f"{reports_csv}: no reports (the table has a header but no rows)")
        reports, row_errors = _non_empty(table.reports, list(table.errors))
        layout = OutputLayout(out)
        engine = get_text_backend(backend, **(backend_options or {})) if isinstance(backend, str) else backend
        try:
            layout.root.mkdir(parents=True, exist_ok=True)
            layout.llm_log.unlink(missing_ok=True)  # never leave the log of an earlier run beside these outputs
            engine.set_log(layout.llm_log)
            results = engine.analyze_many(reports, progress)
            provenance: dict[str, Any] = dict(engine.provenance())
            stats = engine.run_stats()
            if stats:
                provenance["llm_stats"] = stats
            verdict = engine.verdict()
        finally:
            engine.set_log(None)
            if isinstance(backend, str):
                engine.close()
        analyses = [r for r in results if isinstance(r, ReportAnalysis)]
        failed = [r for r in results if isinstance(r, TextFailure)]
        write_radgenome_tables(analyses, layout.tables_dir, default_split=split)
        write_sentences_parquet(analyses, layout.sentences, provenance)
        log_path = layout.llm_log if layout.llm_log.exists() else None
        run = TextRun(analyses, row_errors, failed, provenance, time.perf_counter() - started,
                      row_warnings=list(table.warnings), verdict=verdict, log=log_path)
        _write_run_log(run, reports_csv, layout)
        return run


def _non_empty(reports: list[Report], errors: list[RowError]) -> tuple[list[Report], list[RowError]]:
    """The reports with findings or impression text; the others become row errors (in row order)."""
    kept: list[Report] = []
    for r in reports:
        if r.findings.strip() or r.impressions.strip():
            kept.append(r)
        else:
            errors.append(RowError(r.row, r.volume, EMPTY_REPORT))
    errors.sort(key=lambda e: e.row)
    return kept, errors


def _write_run_log(run: TextRun, reports_csv: Path, layout: OutputLayout) -> None:
    info = {
        "reports_csv": str(reports_csv),
        "reports": len(run.analyses),
        "sentences": sum(len(a.sentences) for a in run.analyses),
        "row_errors": [str(e) for e in run.row_errors],
        "row_warnings": [str(w) for w in run.row_warnings],
        "failed": [{"volume": f.volume, "reason": f.reason} for f in run.failed],
        "provenance": run.provenance,
        "backend_ok": run.verdict.ok,
        "backend_problem": run.verdict.message,
        "llm_log": str(run.log) if run.log is not None else None,
        "seconds": round(run.seconds, 3),
    }
    atomic_write_text(layout.text_run, json.dumps(info, indent=1) + "\n")

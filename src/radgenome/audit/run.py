"""``radgenome audit``: the published RadGenome tables against their reports — verdicts, corrected tables,
changes, report, summary and (optionally) a review queue. Library code: returns an :class:`AuditResult`, never
prints or exits (the CLI does)."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radgenome.atomic import atomic_path
from radgenome.audit import engine
from radgenome.audit.claims import VolumeContext
from radgenome.audit.model import Change, Problem, ReleaseTable, RowAudit, TableKind
from radgenome.audit.negatives import Anchored, missed_negatives
from radgenome.audit.outputs import AUDIT_COLUMNS, after_value, audit_record, write_changes_csv, write_json
from radgenome.audit.queue import QUEUE_FILE, QueueWriter, write_queue_meta
from radgenome.audit.release import Release, ReleaseError, read_release
from radgenome.audit.repair import TableOutcome, copy_unchanged, write_corrected
from radgenome.audit.rules import NO_FINDINGS, audit_row
from radgenome.audit.tally import Tally
from radgenome.csvcells import SafeWriter

AUDIT_CSV = "audit.csv"
CHANGES_CSV = "changes.csv"
AUDIT_HTML = "audit.html"
SUMMARY_JSON = "summary.json"
TABLES_DIR = "radgenome_files"

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as tables are audited (the CLI draws a bar)."""


class AuditInputError(ValueError):
    """The release folder or the reports table cannot be used at all (a fatal error)."""


@dataclass
class AuditResult:
    out: Path
    summary: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    """Files, rows and reports that could not be read or analysed (each named); the rest was audited."""
    volumes_without_report: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def verdicts(self) -> dict[str, int]:
        return dict(self.summary["verdicts"])


@dataclass
class _Contexts:
    """Reports by volume, analysed on first use."""

    reports: dict[str, engine.AuditReport]
    problems: list[Problem]
    _cache: dict[str, VolumeContext | None] = field(default_factory=dict)

    def get(self, key: str) -> VolumeContext | None:
        if key in self._cache:
            return self._cache[key]
        report = self.reports.get(key)
        ctx = None
        if report is not None:
            try:
                ctx = VolumeContext(engine.analyse(report))
            except Exception as exc:  # one report the engine cannot read never stops the audit
                self.problems.append(Problem("reports", None, f"{report.volume}: text engine failed: {exc!r}"))
        self._cache[key] = ctx
        return ctx


def _volumes(release: Release) -> dict[str, dict[str, str]]:
    """split -> (volume key -> spelling in the release), in release order."""
    out: dict[str, dict[str, str]] = {}
    for table in release.tables:
        seen = out.setdefault(table.split, {})
        for row in table.rows:
            name = row.get(table, "Volumename").strip()
            if name and not row.error:
                seen.setdefault(engine.normalise_volume(name), name)
    return out


def _abnormal(table: ReleaseTable, audit: RowAudit) -> bool | None:
    if table.kind not in (TableKind.VQA_ABNORMALITY, TableKind.VQA_LOCATION):
        return None
    return bool(audit.value.strip()) and audit.value.strip().lower() != NO_FINDINGS


def run_audit(
    release_dir: Path,
    reports_csv: Path,
    out: Path,
    *,
    review: bool = False,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit every RadGenome table in ``release_dir`` against ``reports_csv``; write everything under ``out``."""
    started = time.perf_counter()
    started_at = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        release = read_release(Path(release_dir))
    except ReleaseError as exc:
        raise AuditInputError(str(exc)) from exc
    try:
        reports, report_errors = engine.load_reports(Path(reports_csv))
    except engine.ReportTableError as exc:
        raise AuditInputError(str(exc)) from exc
    out = Path(out)
    tables_dir = out / TABLES_DIR
    tables_dir.mkdir(parents=True, exist_ok=True)

    problems: list[Problem] = list(release.problems)
    problems += [Problem(Path(reports_csv).name, row, message) for row, message in report_errors]
    contexts = _Contexts(reports, problems)
    volumes = _volumes(release)
    tally = Tally()
    changes: list[Change] = []
    outcomes: list[TableOutcome] = []
    added_total = 0
    total_rows = sum(len(t.rows) for t in release.tables)
    done = 0

    with ExitStack() as stack:
        audit_writer = _csv_writer(stack, out / AUDIT_CSV)
        audit_writer.writerow(list(AUDIT_COLUMNS))
        queue = QueueWriter(_csv_writer(stack, out / QUEUE_FILE)) if review else None
        for table in release.tables:
            field_index = table.index.get("Finding" if table.kind is TableKind.VQA_PRESENCE else table.spec.field)
            audits: dict[int, RowAudit] = {}
            for row in table.rows:
                key = engine.normalise_volume(row.get(table, "Volumename"))
                ctx = contexts.get(key) if not row.error else None
                audit = audit_row(table, row, ctx)
                audits[row.row] = audit
                tally.add(audit, after_value(audit, field_index), _abnormal(table, audit))
                audit_writer.writerow(audit_record(audit, field_index))
                if queue is not None:
                    view = ctx.view if ctx is not None else None
                    queue.add(audit, table.split, field_index, view.findings if view else "",
                              view.impressions if view else "")
                done += 1
                if progress is not None and done % 500 == 0:
                    progress("audit", done, total_rows)
            added: list[Anchored] = []
            if table.kind is TableKind.VQA_PRESENCE:
                keyed = volumes.get(table.split, {})
                added = missed_negatives(table, audits, list(keyed.items()), {k: contexts.get(k) for k in keyed})
                for a in added:
                    tally.add_negative(a.row)
                added_total += len(added)
            outcome, table_changes = write_corrected(table, audits, added, tables_dir)
            outcomes.append(outcome)
            changes += table_changes
        if progress is not None:
            progress("audit", total_rows, total_rows)
    for path in release.unreadable_files:
        copy_unchanged(path, tables_dir)

    write_changes_csv(out / CHANGES_CSV, changes)
    without = sorted(
        {name for split in volumes.values() for key, name in split.items() if key not in reports}
    )
    keys = {k for split in volumes.values() for k in split}
    info = engine.engine_info()
    summary: dict[str, Any] = {
        "tool": "radgenome audit",
        "radgenome_version": _version(),
        "engine": {"backend": info.backend, "version": info.version},
        "inputs": {"release": str(release.folder), "reports": str(reports_csv)},
        "started": started_at,
        "seconds": round(time.perf_counter() - started, 2),
        "rows": total_rows,
        **tally.as_dict(),
        "tables": {
            o.file: {"rows_in": o.rows_in, "rows_out": o.rows_out, "kept": o.kept, "removed": o.removed,
                     "fixed": o.fixed, "added": o.added, "escaped": o.escaped}
            for o in outcomes
        },
        "added_negatives": added_total,
        "volumes": {
            "in_release": len(keys),
            "with_report": sum(1 for k in keys if k in reports),
            "with_findings": sum(1 for k in keys if k in reports and reports[k].has_findings),
            "without_report": len(without),
        },
        "volumes_without_report": without,
        "problems": [{"file": p.file, "row": p.row, "message": p.message} for p in problems],
        "ignored_files": release.ignored,
        "unreadable_files": [p.name for p in release.unreadable_files],
        "review_queue": {"file": QUEUE_FILE, "items": queue.count} if queue is not None else None,
    }
    outputs = [out / AUDIT_CSV, out / CHANGES_CSV, tables_dir]
    if queue is not None:
        outputs += [out / QUEUE_FILE, write_queue_meta(out, queue.count, summary["inputs"])]
    from radgenome.audit.report_html import write_audit_html

    outputs.append(write_audit_html(out / AUDIT_HTML, summary, tally))
    summary["outputs"] = sorted(str(p.relative_to(out)) for p in [*outputs, out / SUMMARY_JSON])
    write_json(out / SUMMARY_JSON, summary)
    outputs.append(out / SUMMARY_JSON)
    return AuditResult(out, summary, problems, without, outputs)


def _csv_writer(stack: ExitStack, path: Path) -> SafeWriter:
    """A formula-safe CSV writer on ``path``, written atomically when ``stack`` closes without error."""
    tmp = stack.enter_context(atomic_path(path))
    fh = stack.enter_context(tmp.open("w", encoding="utf-8", newline=""))
    return SafeWriter(fh, lineterminator="\n")


def _version() -> str:
    from radgenome import __version__

    return __version__

"""Verdict rules per table kind: a released row -> its claims -> one :class:`RowAudit` (verdict, action, fix).

A cell that lists several phrases (``ectatic, pericardial effusion``) is judged phrase by phrase; the row's
verdict is the most serious of its phrases' (contradicted > unsupported > not_checked > supported). Repairs
only ever remove what the report contradicts:

- a contradicted phrase is dropped from its cell (the row is *fixed*); a row left with nothing is *removed* —
  except an abnormality row whose every phrase the report states as absent, on a path where the report states
  nothing abnormal: it becomes ``no findings``, and a disorders row left empty becomes ``no findings``;
- a contradicted size is replaced by the report's size when the report gives exactly one, else removed;
- a region-report sentence filed on the wrong side is dropped from its cell.

Unsupported and not-checked rows are kept as published (they are what ``--review`` queues).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from radgenome.audit import claims, engine
from radgenome.audit.claims import VolumeContext
from radgenome.audit.matching import clean_phrase
from radgenome.audit.model import (
    SIZE_MM,
    Action,
    ItemVerdict,
    ReleaseRow,
    ReleaseTable,
    RowAudit,
    TableKind,
    Verdict,
)

NO_FINDINGS = "no findings"
SEVERITY = (Verdict.CONTRADICTED, Verdict.UNSUPPORTED, Verdict.NOT_CHECKED, Verdict.SUPPORTED)
_YES = re.compile(r"^\s*yes\b", re.IGNORECASE)
_NO = re.compile(r"^\s*no\b", re.IGNORECASE)


def split_items(cell: str, report_text: str) -> list[str]:
    """The phrases of a comma-joined cell; neighbouring pieces are re-joined where the report writes them
    together, comma included (``8,5 mm nodule``, ``25x14 mm (left), 12x10 mm (right)``)."""
    pieces = [p.strip() for p in cell.split(",")]
    out: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if out:
            joined = f"{out[-1]},{piece}" if piece[:1].isdigit() and out[-1][-1:].isdigit() else f"{out[-1]}, {piece}"
            if clean_phrase(joined) in report_text:
                out[-1] = joined
                continue
        out.append(piece)
    return out


def combine(items: list[ItemVerdict]) -> tuple[Verdict, str]:
    for verdict in SEVERITY:
        reasons = [i.reason for i in items if i.verdict is verdict]
        if reasons:
            return verdict, "; ".join(dict.fromkeys(reasons))
    return Verdict.NOT_CHECKED, "nothing_to_check"


def _base(table: ReleaseTable, row: ReleaseRow) -> RowAudit:
    field = table.spec.field
    anatomy = row.get(table, "Anatomy")
    return RowAudit(
        file=table.name,
        row=row.row,
        volume=row.get(table, "Volumename"),
        anatomy=anatomy,
        field=field if table.kind is not TableKind.VQA_PRESENCE else "Finding,Presence",
        value=row.get(table, field) if table.kind is not TableKind.VQA_PRESENCE
        else f"{row.get(table, 'Finding')} -> {row.get(table, 'Presence')}",
        verdict=Verdict.NOT_CHECKED,
        reason="",
        region=engine.region_of_path(anatomy) if anatomy else "",
    )


def precheck(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext | None) -> RowAudit | None:
    """The audit of a row that cannot be judged (unreadable, no report, unknown path), else None."""
    audit = _base(table, row)
    if row.error:
        audit.reason = f"unreadable_row: {row.error}"
        return audit
    if ctx is None:
        audit.reason = "no_report"
        return audit
    anatomy = audit.anatomy
    if table.kind is not TableKind.CASE_DISORDERS and anatomy and not engine.is_known_path(anatomy):
        audit.reason = "unknown_path"
        return audit
    if table.kind is not TableKind.CASE_DISORDERS and table.kind is not TableKind.REGION_REPORT and not anatomy:
        audit.reason = "no_anatomy"
        return audit
    return None


def _replace(table: ReleaseTable, row: ReleaseRow, column: str, value: str) -> tuple[str, ...]:
    cells = list(row.cells)
    cells[table.index[column]] = value
    return tuple(cells)


def _finish(audit: RowAudit, items: list[ItemVerdict], ctx: VolumeContext) -> RowAudit:
    if not ctx.complete:
        # only an impression to read: what it does not back may well be in the findings we do not have
        items = [
            ItemVerdict(i.item, Verdict.NOT_CHECKED, f"no_findings_section ({i.reason})", i.evidence)
            if i.verdict is Verdict.UNSUPPORTED else i
            for i in items
        ]
    audit.items = tuple(items)
    audit.verdict, audit.reason = combine(items)
    return audit


def _phrase_row(
    table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext, column: str, judge: Callable[[str], ItemVerdict],
    *, when_empty: Callable[[list[ItemVerdict]], str | None] = lambda items: None,
) -> RowAudit:
    """Judge every phrase of ``column``; drop the contradicted ones (``when_empty`` gives the value of a cell
    left with none, or None to remove the row)."""
    audit = _base(table, row)
    cell = row.get(table, column)
    report_text = clean_phrase(f"{ctx.view.findings} {ctx.view.impressions}")
    items = [judge(p) for p in split_items(cell, report_text)]
    if not items:
        audit.reason = "empty_cell"
        return audit
    _finish(audit, items, ctx)
    if audit.verdict is Verdict.CONTRADICTED:
        keep = [i.item for i in items if i.verdict is not Verdict.CONTRADICTED]
        value = ", ".join(keep) if keep else when_empty(items)
        if value is None:
            audit.action = Action.REMOVED
        else:
            audit.action, audit.replacement = Action.FIXED, _replace(table, row, column, value)
    return audit


def _abnormality(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext) -> RowAudit:
    path = row.get(table, "Anatomy")
    cell = row.get(table, "Abnormality")
    if cell.strip().lower() == NO_FINDINGS:
        audit = _finish(_base(table, row), [claims.no_findings_claim(ctx, path)], ctx)
        if audit.verdict is Verdict.CONTRADICTED:
            audit.action = Action.REMOVED
        return audit

    def when_empty(items: list[ItemVerdict]) -> str | None:
        # every phrase stated absent where the report states nothing abnormal: the path has no findings
        if table.kind is not TableKind.VQA_ABNORMALITY or any(i.reason != "stated_absent" for i in items):
            return None
        statement = ctx.view.paths.get(path)
        if statement is None or not statement.has_sentences or statement.present or statement.uncertain:
            return None
        return NO_FINDINGS

    return _phrase_row(table, row, ctx, "Abnormality", lambda p: claims.present_claim(ctx, p, path),
                       when_empty=when_empty)


def _presence(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext) -> RowAudit:
    path = row.get(table, "Anatomy")
    answer = row.get(table, "Presence")
    if _YES.match(answer):
        return _phrase_row(table, row, ctx, "Finding", lambda p: claims.present_claim(ctx, p, path))
    if _NO.match(answer):
        return _phrase_row(table, row, ctx, "Finding", lambda p: claims.absent_claim(ctx, p, path))
    audit = _base(table, row)
    audit.reason = "unknown_presence_value"
    return audit


def size_mm_of(size_text: str) -> str:
    """``size_mm`` of a released ``Size``: the largest dimension in mm, or empty when it is no length."""
    sizes = engine.parse_sizes(size_text)
    if not sizes:
        return ""
    return f"{max(s.largest_mm for s in sizes):g}"


def _size(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext) -> RowAudit:
    path = row.get(table, "Anatomy")
    audit = _base(table, row)
    result = claims.size_claim(ctx, row.get(table, "Abnormality"), row.get(table, "Size"), path)
    _finish(audit, [result.verdict], ctx)
    if audit.verdict is Verdict.CONTRADICTED:
        if result.fix is not None:
            cells = _replace(table, row, "Size", result.fix.text)
            if SIZE_MM in table.index:
                cells = _replace_cells(table, cells, SIZE_MM, f"{result.fix.largest_mm:g}")
            audit.action, audit.replacement = Action.FIXED, cells
        else:
            audit.action = Action.REMOVED
    return audit


def _replace_cells(table: ReleaseTable, cells: tuple[str, ...], column: str, value: str) -> tuple[str, ...]:
    out = list(cells)
    out[table.index[column]] = value
    return tuple(out)


def _region_report(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext) -> RowAudit:
    path = row.get(table, "Anatomy")
    cell = row.get(table, "Sentence")
    if not path.strip():
        return _finish(_base(table, row), [claims.whole_text_claim(ctx, cell)], ctx)
    audit = _base(table, row)
    items = [claims.sentence_claim(ctx, s, path) for s in engine.split_sentences(cell)]
    if not items:
        audit.reason = "empty_cell"
        return audit
    _finish(audit, items, ctx)
    if audit.verdict is Verdict.CONTRADICTED:
        keep = [i.item for i in items if i.verdict is not Verdict.CONTRADICTED]
        if keep:
            audit.action, audit.replacement = Action.FIXED, _replace(table, row, "Sentence", " ".join(keep))
        else:
            audit.action = Action.REMOVED
    return audit


def _disorders(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext) -> RowAudit:
    cell = row.get(table, "Disorders")
    if cell.strip().lower() == NO_FINDINGS:
        audit = _base(table, row)
        audit.reason = "no_findings_not_checked"
        return audit
    return _phrase_row(table, row, ctx, "Disorders", lambda p: claims.disorder_claim(ctx, p),
                       when_empty=lambda items: NO_FINDINGS)


_RULES: dict[TableKind, Callable[[ReleaseTable, ReleaseRow, VolumeContext], RowAudit]] = {
    TableKind.REGION_REPORT: _region_report,
    TableKind.VQA_ABNORMALITY: _abnormality,
    TableKind.VQA_LOCATION: _abnormality,
    TableKind.VQA_PRESENCE: _presence,
    TableKind.VQA_SIZE: _size,
    TableKind.CASE_DISORDERS: _disorders,
}


def audit_row(table: ReleaseTable, row: ReleaseRow, ctx: VolumeContext | None) -> RowAudit:
    """The verdict, reason, evidence and repair of one released row."""
    early = precheck(table, row, ctx)
    if early is not None:
        return early
    assert ctx is not None
    return _RULES[table.kind](table, row, ctx)

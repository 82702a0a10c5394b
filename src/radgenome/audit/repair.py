"""The corrected release: each table in RadGenome's own layout, column order, encoding and line endings.

- a kept row is copied byte for byte from the release (its raw record text);
- a removed row is left out, a fixed row is written anew (cells escaped with :mod:`radgenome.csvcells`);
- added rows (stated negatives) follow the volume's last row in the table;
- ``{split}_vqa_size.csv`` gains a ``size_mm`` column (largest dimension in mm; empty when the released
  ``Size`` is no length): the header and every kept row get ``,<size_mm>`` appended to their raw text;
- a kept row with a cell a spreadsheet would run as a formula is rewritten escaped (action ``escaped``).

Every change is returned as a :class:`Change` (``changes.csv``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from radgenome.atomic import atomic_path
from radgenome.audit.model import SIZE_MM, Action, Change, ReleaseRow, ReleaseTable, RowAudit, TableKind, Verdict
from radgenome.audit.negatives import Anchored
from radgenome.audit.rules import size_mm_of
from radgenome.csvcells import SafeWriter, escape_cell, is_formula_cell


@dataclass(frozen=True, slots=True)
class TableOutcome:
    file: str
    rows_in: int
    rows_out: int
    kept: int
    removed: int
    fixed: int
    added: int
    escaped: int


def _strip_newline(text: str) -> tuple[str, str]:
    for end in ("\r\n", "\n", "\r"):
        if text.endswith(end):
            return text[: -len(end)], end
    return text, ""


def _csv_line(cells: Sequence[str], newline: str) -> str:
    buf = io.StringIO()
    SafeWriter(buf, lineterminator=newline).writerow(list(cells))
    return buf.getvalue()


def _reason(audit: RowAudit) -> str:
    items = [i for i in audit.items if i.verdict is Verdict.CONTRADICTED]
    if not items:
        return f"{audit.verdict}: {audit.reason}"
    return "contradicted: " + "; ".join(f"{i.item}: {i.reason}" for i in items)


def write_corrected(
    table: ReleaseTable,
    audits: Mapping[int, RowAudit],
    added: Sequence[Anchored],
    out_dir: Path,
) -> tuple[TableOutcome, list[Change]]:
    """Write the corrected ``table`` into ``out_dir`` (same file name); returns its counts and changes."""
    add_size_mm = table.kind is TableKind.VQA_SIZE and SIZE_MM not in table.index
    newline = table.newline
    after: dict[int | None, list[Anchored]] = {}
    for a in added:
        after.setdefault(a.after_row, []).append(a)

    parts: list[str] = []
    changes: list[Change] = []
    counts = {"kept": 0, "removed": 0, "fixed": 0, "added": 0, "escaped": 0}
    out_row = 0

    header, end = _strip_newline(table.header_raw)
    parts.append(header + (f",{SIZE_MM}" if add_size_mm else "") + (end or newline))

    def emit_added(anchor: int | None) -> None:
        nonlocal out_row
        for a in after.get(anchor, ()):
            cells = list(a.row.cells) + ([""] if add_size_mm else [])
            parts.append(_csv_line(cells, newline))
            out_row += 1
            counts["added"] += 1
            changes.append(Change(table.name, None, out_row, Action.ADDED, None, tuple(a.row.cells), a.row.reason))

    for row in table.rows:
        audit = audits.get(row.row)
        action = audit.action if audit is not None else Action.KEPT
        if action is Action.REMOVED and audit is not None:
            counts["removed"] += 1
            changes.append(Change(table.name, row.row, None, Action.REMOVED, row.cells, None, _reason(audit)))
        elif action is Action.FIXED and audit is not None and audit.replacement is not None:
            cells = list(audit.replacement)
            if add_size_mm:
                cells.append(size_mm_of(cells[table.index["Size"]]))
            parts.append(_csv_line(cells, newline))
            out_row += 1
            counts["fixed"] += 1
            changes.append(Change(table.name, row.row, out_row, Action.FIXED, row.cells, tuple(cells), _reason(audit)))
        else:
            out_row += 1
            line, escaped = _kept_line(table, row, add_size_mm, newline)
            parts.append(line)
            if escaped:
                counts["escaped"] += 1
                changes.append(Change(table.name, row.row, out_row, Action.ESCAPED, row.cells,
                                      tuple(escape_cell(c) for c in row.cells), "cell starts like a formula"))
            else:
                counts["kept"] += 1
        emit_added(row.row)
    emit_added(None)
    parts.append(table.trailing)
    _write(out_dir / table.name, "".join(parts), table.encoding)
    outcome = TableOutcome(table.name, len(table.rows), out_row, counts["kept"], counts["removed"], counts["fixed"],
                           counts["added"], counts["escaped"])
    return outcome, changes


def _kept_line(table: ReleaseTable, row: ReleaseRow, add_size_mm: bool, newline: str) -> tuple[str, bool]:
    """The output text of a kept row and whether it had to be escaped."""
    if row.error:
        return row.raw if row.raw.endswith(("\n", "\r")) else row.raw + newline, False
    if any(is_formula_cell(c) for c in row.cells):
        cells = list(row.cells)
        if add_size_mm:
            cells.append(size_mm_of(cells[table.index["Size"]]))
        return _csv_line(cells, newline), True
    body, end = _strip_newline(row.raw)
    if add_size_mm:
        body += "," + size_mm_of(row.cells[table.index["Size"]])
    return body + (end or newline), False


def _write(path: Path, text: str, encoding: str) -> None:
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # text the audit added that the release's 8-bit code page cannot hold
        data = text.encode("utf-8")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def copy_unchanged(path: Path, out_dir: Path) -> None:
    """A released file the audit could not read, copied as is."""
    with atomic_path(out_dir / path.name) as tmp:
        tmp.write_bytes(path.read_bytes())

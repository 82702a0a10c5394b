"""``audit.csv``, ``changes.csv`` and ``summary.json`` (every CSV through :mod:`radgenome.csvcells`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from radgenome.atomic import atomic_path
from radgenome.audit.model import Change, RowAudit
from radgenome.csvcells import SafeWriter

AUDIT_COLUMNS = (
    "file", "row", "Volumename", "Anatomy", "region", "field", "value", "verdict", "reason", "detail", "evidence",
    "action", "after",
)
CHANGES_COLUMNS = ("file", "row", "out_row", "action", "before", "after", "reason")
EVIDENCE_SEPARATOR = " | "


def evidence_text(audit: RowAudit) -> str:
    return EVIDENCE_SEPARATOR.join(e.render() for e in audit.evidence)


def after_value(audit: RowAudit, field_index: int | None) -> str:
    """The checked cell after repair (empty for kept and removed rows)."""
    if audit.replacement is None or field_index is None:
        return ""
    return audit.replacement[field_index]


def audit_record(audit: RowAudit, field_index: int | None) -> list[object]:
    return [
        audit.file, audit.row, audit.volume, audit.anatomy, audit.region, audit.field, audit.value,
        audit.verdict.value, audit.reason, audit.detail, evidence_text(audit), audit.action.value,
        after_value(audit, field_index),
    ]


def _write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = SafeWriter(fh, lineterminator="\n")
        writer.writerow(list(header))
        writer.writerows(rows)


def _cells(cells: tuple[str, ...] | None) -> str:
    return "" if cells is None else json.dumps(list(cells), ensure_ascii=False)


def write_changes_csv(path: Path, changes: Iterable[Change]) -> None:
    _write_rows(
        path,
        CHANGES_COLUMNS,
        (
            [c.file, "" if c.row is None else c.row, "" if c.out_row is None else c.out_row, c.action.value,
             _cells(c.before), _cells(c.after), c.reason]
            for c in changes
        ),
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")

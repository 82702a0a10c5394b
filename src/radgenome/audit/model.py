"""The audit's own small types: release rows in, verdicts and changes out.

Nothing here knows the text engine (that stays behind :mod:`radgenome.audit.engine`); the verdict rules, the
writers and the report work on these types only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Verdict(StrEnum):
    SUPPORTED = "supported"
    """The report states what the row says, where the row says it (polarity, region, side, size)."""
    CONTRADICTED = "contradicted"
    """The report states the opposite: the other polarity, another side or region, or another size."""
    UNSUPPORTED = "unsupported"
    """Nothing in the report backs the row (the finding, or its place, is not stated)."""
    NOT_CHECKED = "not_checked"
    """The audit cannot decide: hedged or uncertain wording, no report, no findings text, an unreadable row."""


VERDICTS: tuple[Verdict, ...] = tuple(Verdict)


class Polarity(StrEnum):
    """How the report states a mention (the audit's copy of the engine's three values)."""

    PRESENT = "present"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"


class Action(StrEnum):
    KEPT = "kept"
    REMOVED = "removed"
    FIXED = "fixed"
    ADDED = "added"
    ESCAPED = "escaped"
    """Kept, but rewritten with a cell escaped so a spreadsheet does not run it as a formula."""


class TableKind(StrEnum):
    REGION_REPORT = "region_report"
    VQA_ABNORMALITY = "vqa_abnormality"
    VQA_LOCATION = "vqa_location"
    VQA_PRESENCE = "vqa_presence"
    VQA_SIZE = "vqa_size"
    CASE_DISORDERS = "case_disorders"


@dataclass(frozen=True, slots=True)
class TableSpec:
    kind: TableKind
    columns: tuple[str, ...]
    """RadGenome's columns, in its order (a table must have them; extra columns are carried along)."""
    field: str
    """The column whose claim the audit checks."""


TABLE_SPECS: dict[TableKind, TableSpec] = {
    TableKind.REGION_REPORT: TableSpec(TableKind.REGION_REPORT, ("Volumename", "Anatomy", "Sentence"), "Sentence"),
    TableKind.VQA_ABNORMALITY: TableSpec(
        TableKind.VQA_ABNORMALITY, ("Volumename", "Anatomy", "Abnormality"), "Abnormality"
    ),
    TableKind.VQA_LOCATION: TableSpec(TableKind.VQA_LOCATION, ("Volumename", "Anatomy", "Abnormality"), "Abnormality"),
    TableKind.VQA_PRESENCE: TableSpec(
        TableKind.VQA_PRESENCE, ("Volumename", "Anatomy", "Finding", "Presence"), "Finding"
    ),
    TableKind.VQA_SIZE: TableSpec(TableKind.VQA_SIZE, ("Volumename", "Anatomy", "Abnormality", "Size"), "Size"),
    TableKind.CASE_DISORDERS: TableSpec(TableKind.CASE_DISORDERS, ("Volumename", "Disorders"), "Disorders"),
}

SIZE_MM = "size_mm"
"""The column the audit appends to ``{split}_vqa_size.csv`` (largest dimension in millimetres)."""


@dataclass(slots=True)
class ReleaseRow:
    """One data row of a released table, with its exact text for byte-for-byte copies."""

    row: int
    """1-based data row number (the header is row 0)."""
    raw: str
    """The record exactly as it was in the file, line terminator(s) included."""
    cells: tuple[str, ...] = ()
    error: str = ""
    """Why the row could not be read (then ``cells`` may be incomplete)."""

    def get(self, table: ReleaseTable, column: str) -> str:
        i = table.index.get(column)
        if i is None or i >= len(self.cells):
            return ""
        return self.cells[i]


@dataclass(slots=True)
class ReleaseTable:
    """One released CSV as read: its kind, header and rows (each with its raw text)."""

    path: Path
    kind: TableKind
    split: str
    header: tuple[str, ...]
    header_raw: str
    newline: str
    encoding: str
    rows: list[ReleaseRow] = field(default_factory=list)
    trailing: str = ""
    """Text after the last record that is no record (blank lines), kept as is."""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.header)}

    @property
    def spec(self) -> TableSpec:
        return TABLE_SPECS[self.kind]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A report sentence used to judge a row."""

    section: str
    index: int
    text: str

    def render(self) -> str:
        return f"[{self.section} {self.index}] {self.text}"


@dataclass(frozen=True, slots=True)
class ItemVerdict:
    """The verdict on one claim of a row (one phrase of a comma-joined cell, one sentence, one size)."""

    item: str
    verdict: Verdict
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(slots=True)
class RowAudit:
    """The audit of one released row (one line of ``audit.csv``)."""

    file: str
    row: int
    volume: str
    anatomy: str
    field: str
    value: str
    verdict: Verdict
    reason: str
    items: tuple[ItemVerdict, ...] = ()
    action: Action = Action.KEPT
    replacement: tuple[str, ...] | None = None
    """The fixed row's cells (RadGenome's columns) when ``action`` is ``fixed``."""
    region: str = ""

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        seen: dict[tuple[str, int], Evidence] = {}
        for item in self.items:
            for ev in item.evidence:
                seen.setdefault((ev.section, ev.index), ev)
        return tuple(sorted(seen.values(), key=lambda e: e.index))

    @property
    def detail(self) -> str:
        if len(self.items) <= 1:
            return ""
        return "; ".join(f"{i.item}: {i.verdict} ({i.reason})" for i in self.items)


@dataclass(frozen=True, slots=True)
class AddedRow:
    """A row the audit adds (a stated negative the release missed)."""

    file: str
    volume: str
    anatomy: str
    cells: tuple[str, ...]
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """One line of ``changes.csv``."""

    file: str
    row: int | None
    """Data row in the released file (None for an added row)."""
    out_row: int | None
    """Data row in the corrected file (None for a removed row)."""
    action: Action
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None
    reason: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A file or row that could not be read (named in the summary; makes the exit status 3)."""

    file: str
    row: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        return f"{where}: {self.message}"

"""Reading CT-RATE-style report tables robustly.

Columns: ``VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN`` (header names are
matched case-insensitively, with or without the ``_EN`` suffix); extra columns are ignored and any text column
may be missing or empty. Text may carry HTML remnants (``&nbsp;``, ``<br>``). Nothing is dropped or garbled
silently; a row that cannot be used becomes a :class:`RowError` naming it (its data row number, its file line
and its VolumeName), and the other rows go on:

* **VolumeNames** must match the safe pattern of :mod:`radgenome.corpus.names` (no ``/``, ``..``, NUL, formula
  characters or over-long names); two rows with the same stem (``X.nii.gz`` and ``X``) are a duplicate: the
  first wins, the later one is an error.
* **Swallowed rows**: an unbalanced quote makes the CSV parser read the following rows into one field. A field
  holding a line that starts like a VolumeName of the file followed by a comma (``\n<name>.nii.gz,``; a name
  ending ``.nii.gz``/``.nii``, or shaped like the file's other VolumeNames with its digits as wildcards) fails
  its own row and every row it swallowed, each error naming both.
* **Encoding** is decided per row: the file is read as UTF-8 (a BOM is allowed; a UTF-16 BOM decodes the whole
  file as UTF-16); a line that is not valid UTF-8 alone is decoded as Windows-1252 (Latin-1 for the five bytes
  cp1252 leaves undefined), and each row that needed it is reported as a :class:`RowWarning` — the other rows
  keep their exact UTF-8 text.
* Cells written by our own CSV writers (``example-reports``) may carry the formula-escaping quote of
  :mod:`radgenome.csvcells`; it is removed (:func:`~radgenome.csvcells.unescape_cell`).
* The path is checked with ``stat`` first: a FIFO, folder or device is refused (never opened).
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from radgenome.corpus.files import InputFileError, check_regular_file
from radgenome.corpus.names import VOLUME_NAME_PATTERN, volume_name_problem
from radgenome.csvcells import unescape_cell
from radgenome.model import Report

# a 1 MB report must fit in one field
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_COLUMNS = {
    "volume": ("volumename", "volume_name", "volume"),
    "clinical": ("clinicalinformation_en", "clinicalinformation", "clinical_information", "clinical"),
    "technique": ("technique_en", "technique"),
    "findings": ("findings_en", "findings"),
    "impressions": ("impressions_en", "impressions", "impression_en", "impression"),
}
_TAG = re.compile(r"<\s*(?:br|p|/p|div|/div|li|/li|ul|/ul|ol|/ol)\s*/?\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]{0,200})?/?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_LINE_BREAK = re.compile(rb"(\r\n|\r|\n)")
_ROW_START = re.compile(r"\s*\"?([A-Za-z0-9][A-Za-z0-9._-]*)\"?,")
_DIGITS = re.compile(r"[0-9]+")
LEGACY_ENCODING = "cp1252"


RowErrorKind = Literal["unreadable", "swallowed", "invalid_name", "duplicate"]
"""``unreadable``: malformed CSV or too many fields; ``swallowed``: a row holding other rows, or a row held by
another (unbalanced quote); ``invalid_name``: a VolumeName outside the safe pattern; ``duplicate``: a stem seen
in an earlier row."""


class ReportTableError(ValueError):
    """The table as a whole cannot be read (missing file, not a regular file, no VolumeName column)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    """1-based data row number (the header is row 0)."""
    volume: str
    message: str
    line: int = 0
    """1-based line of the file where the row starts (0 when unknown)."""
    kind: RowErrorKind = "unreadable"

    def __str__(self) -> str:
        who = f" ({self.volume})" if self.volume else ""
        where = f" at line {self.line}" if self.line else ""
        return f"row {self.row}{who}{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class RowWarning:
    """A row that was read and used, with something the user should know (its decoding)."""

    row: int
    volume: str
    message: str
    line: int = 0

    def __str__(self) -> str:
        who = f" ({self.volume})" if self.volume else ""
        where = f" at line {self.line}" if self.line else ""
        return f"row {self.row}{who}{where}: {self.message}"


@dataclass
class ReportTable:
    """Everything read from one reports table."""

    path: Path
    reports: list[Report] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    """Rows that were not used, each with its reason."""
    warnings: list[RowWarning] = field(default_factory=list)
    """Rows that were used but needed a fallback (legacy encoding)."""
    encoding: str = "utf-8"
    """``utf-8``, ``utf-16``, or ``utf-8+cp1252`` when some lines needed the fallback."""


def clean_text(text: str | None) -> str:
    """Undo HTML remnants and control characters; keep the wording and spacing otherwise as written."""
    if not text:
        return ""
    if "<" in text:
        text = _TAG.sub("\n", text)
        text = _ANY_TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = text.replace("\u00a0", " ").replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _decode_line(data: bytes) -> tuple[str, bool]:
    """(text, True when the legacy fallback was needed) of one line's bytes."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(LEGACY_ENCODING), True
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined in cp1252
        return data.decode("latin-1"), True


def decode_lines(data: bytes) -> tuple[list[str], set[int], str]:
    """A CSV's bytes as lines (line breaks kept, split as the ``csv`` module splits them: ``\\r\\n``, ``\\r``,
    ``\\n``), the 0-based indices of the lines that needed the legacy fallback, and the encoding used."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError(f"UTF-16 byte-order mark but invalid UTF-16 ({exc.reason} at byte {exc.start})") from exc
        return list(io.StringIO(text, newline="")), set(), "utf-16"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return list(io.StringIO(data.decode("utf-8"), newline="")), set(), "utf-8"
    except UnicodeDecodeError:
        pass
    pieces = _LINE_BREAK.split(data)
    lines: list[str] = []
    fallback: set[int] = set()
    for i in range(0, len(pieces), 2):
        raw = pieces[i] + (pieces[i + 1] if i + 1 < len(pieces) else b"")
        if not raw:
            continue
        text, legacy = _decode_line(raw)
        if legacy:
            fallback.add(len(lines))
        lines.append(text)
    return lines, fallback, f"utf-8+{LEGACY_ENCODING}"


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a CSV's bytes, UTF-8 first and the legacy fallback only for the lines that need it."""
    lines, _, encoding = decode_lines(data)
    return "".join(lines), encoding


def _header_map(fieldnames: list[str]) -> dict[str, str]:
    lookup = {name.strip().lower(): name for name in fieldnames if name}
    out: dict[str, str] = {}
    for key, options in _COLUMNS.items():
        for opt in options:
            if opt in lookup:
                out[key] = lookup[opt]
                break
    return out


class _LineTap:
    """The lines of a file, handed to the csv reader one at a time; remembers which lines each record took."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.next = 0
        self.start = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        if self.next >= len(self.lines):
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1]

    def take(self) -> range:
        """0-based indices of the lines consumed since the last call."""
        taken = range(self.start, self.next)
        self.start = self.next
        return taken


@dataclass
class _Record:
    row: int
    lines: range
    cells: list[str] | None
    error: str = ""


def _stem(name: str) -> str:
    """``volume_stem`` for a name without folders (fast: this runs for every row)."""
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _unescape(row: list[str]) -> list[str]:
    return [unescape_cell(c) if c.startswith("'") else c for c in row]


def _shape(name: str) -> str:
    return _DIGITS.sub("#", _stem(name))


def _swallowed(record: _Record, lines: list[str], shapes: set[str]) -> list[tuple[int, str]]:
    """(line index, VolumeName) of every row start found inside the record's fields (past its first line)."""
    found = []
    for i in record.lines[1:]:
        m = _ROW_START.match(lines[i])
        if m is None:
            continue
        name = m.group(1)
        if name.endswith((".nii.gz", ".nii")) or _shape(name) in shapes:
            found.append((i, name))
    return found


def _show(name: str) -> str:
    """A VolumeName as it can be printed: unsafe ones as a short repr."""
    if VOLUME_NAME_PATTERN.fullmatch(name) and len(name) <= 80:
        return name
    return repr(name[:60] + ("..." if len(name) > 60 else ""))


def read_report_table(path: Path) -> ReportTable:
    """Read a reports table (see the module doc). Raises :class:`ReportTableError` when the table as a whole
    cannot be used (no file, not a regular file, unreadable, empty, no VolumeName column)."""
    path = Path(path)
    try:
        check_regular_file(path, "reports table")
        data = path.read_bytes()
    except InputFileError as exc:
        raise ReportTableError(str(exc)) from None
    except OSError as exc:
        raise ReportTableError(f"{path}: cannot read reports table: {exc.strerror or exc}") from exc
    try:
        lines, fallback, encoding = decode_lines(data)
    except ValueError as exc:
        raise ReportTableError(f"{path}: {exc}") from exc
    table = ReportTable(path, encoding=encoding)
    tap = _LineTap(lines)
    reader = csv.reader(tap)
    try:
        header = next(reader)
    except StopIteration:
        raise ReportTableError(f"{path}: empty reports table (no header)") from None
    except csv.Error as exc:
        raise ReportTableError(f"{path}: unreadable header: {exc}") from exc
    tap.take()
    header = [unescape_cell(h) for h in header]
    cols = _header_map(header)
    if "volume" not in cols:
        shown = ", ".join(repr(h[:40]) for h in header[:8])
        raise ReportTableError(f"{path}: no VolumeName column (header: {shown})")
    index = {name: i for i, name in enumerate(header)}
    vol_index = index[cols["volume"]]

    records: list[_Record] = []
    row_no = 0
    while True:
        row_no += 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            records.append(_Record(row_no, tap.take(), None, f"malformed CSV: {exc}"))
            continue
        records.append(_Record(row_no, tap.take(), row))

    multiline = [r for r in records if r.cells is not None and len(r.lines) > 1]
    shapes = {_shape(r.cells[vol_index].strip()) for r in records if r.cells and len(r.cells) > vol_index} if (
        multiline) else set()
    swallowed_by: dict[int, list[tuple[int, str]]] = {}
    for rec in multiline:
        if rec.cells is not None:
            found = _swallowed(rec, lines, shapes)
            if found:
                swallowed_by[rec.row] = found

    seen: dict[str, tuple[int, str]] = {}
    for rec in records:
        line = rec.lines.start + 1 if rec.lines else 0
        if rec.cells is None:
            table.errors.append(RowError(rec.row, "", rec.error, line))
            continue
        row = _unescape(rec.cells)
        if not any(cell.strip() for cell in row):
            continue
        raw_name = row[vol_index].strip() if vol_index < len(row) else ""
        volume = _show(raw_name)
        found = swallowed_by.get(rec.row)
        if found:
            names = ", ".join(f"{name} (line {i + 1})" for i, name in found)
            table.errors.append(RowError(
                rec.row, volume, f"a field of this row holds the start of other rows: {names}; an unbalanced "
                "quote swallowed them, so this row and the swallowed ones are not used", line, "swallowed"))
            for i, name in found:
                table.errors.append(RowError(
                    rec.row, _show(name), f"swallowed by row {rec.row} ({volume}, line {line}) through an "
                    f"unbalanced quote; this report (line {i + 1}) was not read", i + 1, "swallowed"))
            continue
        if len(row) > len(header):
            table.errors.append(RowError(rec.row, volume, f"{len(row)} fields for {len(header)} columns "
                                         "(unquoted comma?)", line))
            continue
        problem = volume_name_problem(raw_name)
        if problem is not None:
            table.errors.append(RowError(rec.row, volume, problem, line, "invalid_name" if raw_name else "unreadable"))
            continue
        stem = _stem(raw_name)
        if stem in seen:
            first, first_name = seen[stem]
            what = "duplicate VolumeName" if raw_name == first_name else f"duplicate VolumeName stem ({first_name})"
            table.errors.append(RowError(rec.row, raw_name, f"{what} (first at row {first})", line, "duplicate"))
            continue
        seen[stem] = (rec.row, raw_name)

        def cell(key: str, row: list[str] = row) -> str:
            col = cols.get(key)
            if col is None:
                return ""
            i = index[col]
            return row[i] if i < len(row) else ""

        table.reports.append(Report(
            volume=raw_name,
            findings=clean_text(cell("findings")),
            impressions=clean_text(cell("impressions")),
            clinical=clean_text(cell("clinical")),
            technique=clean_text(cell("technique")),
            row=rec.row,
        ))
        legacy = [i + 1 for i in rec.lines if i in fallback]
        if legacy:
            where = ", ".join(map(str, legacy[:5])) + (" ..." if len(legacy) > 5 else "")
            table.warnings.append(RowWarning(
                rec.row, raw_name, f"not valid UTF-8: decoded as Windows-1252 (line {where}); check its accents",
                line))
    return table


def iter_reports(path: Path) -> Iterator[Report | RowError]:
    """A :class:`Report` per usable row and a :class:`RowError` per unusable one, in file order."""
    table = read_report_table(path)
    items: list[Report | RowError] = [*table.reports, *table.errors]
    yield from sorted(items, key=lambda x: x.row)


def read_reports(path: Path) -> tuple[list[Report], list[RowError]]:
    """All reports and row errors of a table (:func:`read_report_table` without the warnings)."""
    table = read_report_table(path)
    return table.reports, table.errors

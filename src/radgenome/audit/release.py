"""Reading RadGenome's released tables as published, keeping every record's exact text.

A release folder holds ``{split}_{kind}.csv`` files (``kind`` one of :class:`TableKind`; a suffix such as
``_top`` is allowed: ``validation_region_report_top.csv``); other files are ignored (and listed). Each record is
kept with its raw text, so a row the audit keeps is written back byte for byte. A record that cannot be used
(malformed CSV, a wrong number of fields, no volume name) is kept with an ``error``; a file without RadGenome's
columns is a :class:`Problem` and is copied unchanged.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from radgenome.audit.model import TABLE_SPECS, Problem, ReleaseRow, ReleaseTable, TableKind

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_NAME = re.compile(
    r"^(?P<split>[A-Za-z0-9]+)_(?P<kind>" + "|".join(k.value for k in TableKind) + r")(?P<suffix>_[A-Za-z0-9_]+)?\.csv$"
)


class ReleaseError(ValueError):
    """The release folder as a whole cannot be used (missing, or no RadGenome table in it)."""


@dataclass(slots=True)
class Release:
    folder: Path
    tables: list[ReleaseTable] = field(default_factory=list)
    unreadable_files: list[Path] = field(default_factory=list)
    """Recognised by name but not readable as a RadGenome table (copied unchanged)."""
    ignored: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def classify(name: str) -> tuple[TableKind, str] | None:
    """(kind, split) of a released file name, or None for a file the audit does not read."""
    m = _NAME.match(name)
    if m is None:
        return None
    return TableKind(m.group("kind")), m.group("split")


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


class _Tap:
    """A line iterator that remembers the lines the csv reader took for the current record."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.taken: list[str] = []

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line


def _newline_of(line: str) -> str:
    for end in ("\r\n", "\n", "\r"):
        if line.endswith(end):
            return end
    return "\n"


def read_table(path: Path, kind: TableKind, split: str) -> tuple[ReleaseTable | None, list[Problem]]:
    """Read one released table; (None, [problem]) when the file as a whole cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(path.name, None, f"cannot read: {exc.strerror or exc}")]
    text, encoding = _decode(data)
    tap = _Tap(iter(io.StringIO(text, newline="")))
    reader = csv.reader(tap)
    try:
        header = next(reader)
    except StopIteration:
        return None, [Problem(path.name, None, "empty file (no header)")]
    except csv.Error as exc:
        return None, [Problem(path.name, None, f"unreadable header: {exc}")]
    header_raw = "".join(tap.taken)
    spec = TABLE_SPECS[kind]
    by_lower = {h.strip().lower(): h for h in header}
    missing = [c for c in spec.columns if c.lower() not in by_lower]
    if missing:
        message = f"not a RadGenome {kind.value} table: no column(s) {', '.join(missing)}"
        return None, [Problem(path.name, None, message)]
    # RadGenome's spelling of the columns is what the rules look up; the file keeps its own header text
    names = [h.strip() for h in header]
    for col in spec.columns:
        names[names.index(by_lower[col.lower()].strip())] = col
    table = ReleaseTable(path, kind, split, tuple(names), header_raw, _newline_of(header_raw), encoding)
    problems: list[Problem] = []
    row_no = 0
    pending_blank = ""
    while True:
        tap.taken = []
        try:
            cells = next(reader)
        except StopIteration:
            table.trailing = pending_blank + "".join(tap.taken)
            break
        except csv.Error as exc:
            row_no += 1
            raw = pending_blank + "".join(tap.taken)
            pending_blank = ""
            table.rows.append(ReleaseRow(row_no, raw, (), f"malformed CSV: {exc}"))
            problems.append(Problem(path.name, row_no, f"malformed CSV: {exc}"))
            continue
        if not cells or not any(c.strip() for c in cells):
            pending_blank += "".join(tap.taken)  # a blank line travels with the next record
            continue
        row_no += 1
        raw = pending_blank + "".join(tap.taken)
        pending_blank = ""
        error = ""
        if len(cells) != len(header):
            error = f"{len(cells)} fields for {len(header)} columns"
        elif not cells[table.index["Volumename"]].strip():
            error = "empty Volumename"
        table.rows.append(ReleaseRow(row_no, raw, tuple(cells), error))
        if error:
            problems.append(Problem(path.name, row_no, error))
    return table, problems


def read_release(folder: Path) -> Release:
    """Every RadGenome table in ``folder`` (or in its ``radgenome_files/``), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReleaseError(f"{folder}: not a folder")
    if (folder / "radgenome_files").is_dir() and not any(classify(p.name) for p in folder.glob("*.csv")):
        folder = folder / "radgenome_files"
    release = Release(folder)
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        found = classify(path.name)
        if found is None:
            release.ignored.append(path.name)
            continue
        table, problems = read_table(path, *found)
        release.problems.extend(problems)
        if table is None:
            release.unreadable_files.append(path)
        else:
            release.tables.append(table)
    if not release.tables and not release.unreadable_files:
        kinds = ", ".join(k.value for k in TableKind)
        raise ReleaseError(f"{folder}: no RadGenome table ({{split}}_{{{kinds}}}.csv)")
    return release

"""Reading CT-RATE-style report tables robustly.

Columns: ``VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN`` (header names are
matched case-insensitively, with or without the ``_EN`` suffix); extra columns are ignored and any text column
may be missing or empty. Files may carry a BOM or be in a legacy 8-bit encoding; text may carry HTML remnants
(``&nbsp;``, ``<br>``). A row that cannot be used (no volume name, too many fields) becomes a
:class:`RowError` naming the row; the other rows go on.
"""

from __future__ import annotations

import csv
import html
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


class ReportTableError(ValueError):
    """The table as a whole cannot be read (missing file, no VolumeName column)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    """1-based data row number (the header is row 0)."""
    volume: str
    message: str

    def __str__(self) -> str:
        who = f" ({self.volume})" if self.volume else ""
        return f"row {self.row}{who}: {self.message}"


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


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a CSV's bytes: UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _header_map(fieldnames: list[str]) -> dict[str, str]:
    lookup = {name.strip().lower(): name for name in fieldnames if name}
    out: dict[str, str] = {}
    for key, options in _COLUMNS.items():
        for opt in options:
            if opt in lookup:
                out[key] = lookup[opt]
                break
    return out


def iter_reports(path: Path) -> Iterator[Report | RowError]:
    """Yield a :class:`Report` per usable row and a :class:`RowError` per unusable one, in file order."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportTableError(f"{path}: cannot read reports table: {exc.strerror or exc}") from exc
    text, _ = decode_bytes(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ReportTableError(f"{path}: empty reports table (no header)") from None
    except csv.Error as exc:
        raise ReportTableError(f"{path}: unreadable header: {exc}") from exc
    cols = _header_map(header)
    if "volume" not in cols:
        raise ReportTableError(f"{path}: no VolumeName column (header: {', '.join(header[:8])})")
    index = {name: i for i, name in enumerate(header)}
    row_no = 0
    while True:
        row_no += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(row_no, "", f"malformed CSV: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            yield RowError(row_no, "", f"{len(row)} fields for {len(header)} columns (unquoted comma?)")
            continue

        def cell(key: str, row: list[str] = row) -> str:
            col = cols.get(key)
            if col is None:
                return ""
            i = index[col]
            return row[i] if i < len(row) else ""

        volume = cell("volume").strip()
        if not volume:
            yield RowError(row_no, "", "empty VolumeName")
            continue
        yield Report(
            volume=volume,
            findings=clean_text(cell("findings")),
            impressions=clean_text(cell("impressions")),
            clinical=clean_text(cell("clinical")),
            technique=clean_text(cell("technique")),
            row=row_no,
        )


def read_reports(path: Path) -> tuple[list[Report], list[RowError]]:
    """All reports and row errors of a table. Duplicate VolumeNames: the first row wins, later ones are errors."""
    reports: list[Report] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for item in iter_reports(path):
        if isinstance(item, RowError):
            errors.append(item)
        elif item.volume in seen:
            errors.append(RowError(item.row, item.volume, f"duplicate VolumeName (first at row {seen[item.volume]})"))
        else:
            seen[item.volume] = item.row
            reports.append(item)
    return reports, errors

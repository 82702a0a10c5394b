"""CSV cells that a spreadsheet will not execute (OWASP "CSV injection").

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula by Excel,
LibreOffice and Google Sheets. Every CSV this project writes passes its cells through :func:`escape_cell`, which
prefixes such a cell with a single quote (``'=1+1``), as OWASP recommends; quoting of commas, quotes and
newlines is left to the ``csv`` module. Parquet outputs keep the exact text. Our own readers of our own CSVs
undo the prefix with :func:`unescape_cell`, so a round trip gives the original text back.

This module imports nothing else of radgenome.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet evaluate a cell."""

ESCAPE = "'"


def _needs_quote(text: str) -> bool:
    # A formula start, possibly behind quotes we add or the text already had ("'=x" gets one more, so
    # unescaping is exact for every string).
    return text.lstrip(ESCAPE).startswith(FORMULA_START)


def escape_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is a string that starts like a formula; other values unchanged."""
    if isinstance(value, str) and _needs_quote(value):
        return ESCAPE + value
    return value


def unescape_cell(value: str) -> str:
    """Undo :func:`escape_cell`: ``unescape_cell(escape_cell(s)) == s`` for every string ``s``."""
    if value.startswith(ESCAPE) and _needs_quote(value):
        return value[1:]
    return value


_FIRST = frozenset(FORMULA_START) | {ESCAPE}
"""First characters worth a closer look (the test runs inline: most cells start with none of them)."""


def escape_row(row: Sequence[Any]) -> list[Any]:
    return [ESCAPE + v if isinstance(v, str) and v[:1] in _FIRST and _needs_quote(v) else v for v in row]


def is_formula_cell(value: str) -> bool:
    """True when a cell as written would be executed by a spreadsheet."""
    return value.startswith(FORMULA_START)


class SafeWriter:
    """A ``csv.writer`` whose every cell is escaped with :func:`escape_cell`."""

    def __init__(self, fh: Any, **fmtparams: Any) -> None:
        self._writer = csv.writer(fh, **fmtparams)

    def writerow(self, row: Sequence[Any]) -> Any:
        return self._writer.writerow(escape_row(row))

    def writerows(self, rows: Iterable[Sequence[Any]]) -> None:
        self._writer.writerows(map(escape_row, rows))


class SafeDictWriter(csv.DictWriter):
    """A ``csv.DictWriter`` whose every value (and header) is escaped with :func:`escape_cell`."""

    def writeheader(self) -> Any:
        return self.writer.writerow(escape_row(list(self.fieldnames)))

    def writerow(self, rowdict: Any) -> Any:
        return super().writerow({k: escape_cell(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Any]) -> None:
        for row in rowdicts:
            self.writerow(row)

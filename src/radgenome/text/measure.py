"""Sizes written in report sentences, normalised to millimetres.

:func:`parse_measurements` finds every length written with a number and a length unit:

- single values: ``6 mm``, ``6mm``, ``4.6 mm``, ``4,6 mm`` (decimal comma, no space after the comma),
  ``1 cm``, ``2.5cm``, ``5-mm``, ``4 millimeters``, ``2 centimetres``, ``19x16 mmm`` (a doubled ``m`` typo);
- dimensions: ``6x4 mm``, ``6 x 4 mm``, ``6*4 mm``, ``6×4 mm``, ``1.5x2x3 cm``, ``15x12x10mm``,
  ``6 mm x 4 mm``;
- ranges: ``6-7 mm``, ``2-2.5 cm``, ``6 to 8 mm``, ``between 6 and 7 mm`` → ``values=(6, 7)``, ``largest_mm=7``;
- numbers before ``millimetric``: ``1-2 millimetric nodules`` → ``1-2`` mm (bare ``millimetric`` and
  ``subcentimetric`` carry no number and are *not* measurements);
- enumerations sharing one unit: ``10 and 3.5 mm``, ``4, 5 and 7 mm`` → one measurement per number (the
  unit-less ones have ``text`` = the number alone, ``unit`` = the shared unit). ``5 mm and 7 mm`` is two
  measurements as well. ``image 449, 17 mm`` is *not* an enumeration (only ``and``/``or`` join one).

Qualifiers stay outside the span: ``up to 5 mm`` → ``5 mm``; ``measuring 12 mm in diameter`` → ``12 mm``.
A change written with the unit twice (``from 12 mm to 15 mm``) is two measurements, not a range.

Not measurements (deliberately skipped): areas and volumes (``cm2``, ``mm²``, ``cm3``, ``mm3``, ``cc``,
``ml``) — they are not lengths and have no largest dimension; pressures (``mm Hg``, ``mmHg``, ``cm H2O``);
densities (``HU``, ``Hounsfield``); image/series/slice numbers, dates (``7.12.2021``), vertebra levels
(``T8-9``), percentages and grades — none of them has a length unit.
"""

from __future__ import annotations

import re

from radgenome.model import Measurement

__all__ = ["parse_measurements", "to_mm"]

_NUM = r"\d+(?:[.,]\d+)?"
_UNIT = (
    r"(?:millimet(?:er|re)s?|millimetric|centimet(?:er|re)s?|mmm?|cm)"
    r"(?![\w²³])(?!\s*(?:hg|h2o)\b)"
)
_DIM_SEP = r"\s*[x×*]\s*"
_RANGE_SEP = r"\s*(?:-|–|—|\bto\b)\s*"
# one number, optionally with its own unit when a dimension sign follows ("6 mm x 4 mm")
_LEAD = rf"(?:{_NUM}(?:\s*{_UNIT}(?={_DIM_SEP}\d))?{_DIM_SEP}|{_NUM}{_RANGE_SEP})"
_PATTERN = re.compile(
    rf"(?=\d)(?<!\w)(?<!\d[.,])"  # the leading lookahead lets the engine skip to digits
    rf"(?P<enum>(?:{_NUM}\s*,\s*)*{_NUM}\s*,?\s+(?:and|or)\s+)?"
    rf"(?P<body>(?:{_LEAD})*{_NUM})\s*-?\s*(?P<unit>{_UNIT})",
    re.IGNORECASE,
)
_NUMBER = re.compile(_NUM)
_CANNOT_ENUMERATE = re.compile(
    r"(?:images?|series|serial|sections?|slices?|level|grade|no\.?|number)\s*$", re.IGNORECASE
)
_BETWEEN = re.compile(r"\bbetween\s+$", re.IGNORECASE)
_QUICK = re.compile(r"\d\s*-?\s*(?:[mc]m|millim|centim)", re.IGNORECASE)


def to_mm(value: float, unit: str) -> float:
    """``value`` in ``unit`` (``mm`` or ``cm``) as millimetres, rounded to 6 decimals (``1.5 cm`` → 15.0)."""
    return round(value * 10.0, 6) if unit == "cm" else float(value)


def _unit_of(written: str) -> str:
    w = written.lower()
    return "cm" if w.startswith("c") else "mm"


def _value(text: str) -> float:
    return float(text.replace(",", "."))


def _make(text: str, start: int, values: tuple[float, ...], unit: str) -> Measurement:
    values_mm = tuple(to_mm(v, unit) for v in values)
    return Measurement(
        text=text,
        values=values,
        unit=unit,
        values_mm=values_mm,
        largest_mm=max(values_mm),
        start=start,
        end=start + len(text),
    )


def parse_measurements(sentence: str) -> tuple[Measurement, ...]:
    """Every length measurement written in ``sentence``, in text order (see the module docstring)."""
    if _QUICK.search(sentence) is None:
        return ()
    out: list[Measurement] = []
    for m in _PATTERN.finditer(sentence):
        unit = _unit_of(m.group("unit"))
        enum_start = m.start("enum")
        if enum_start >= 0 and _BETWEEN.search(sentence, max(0, enum_start - 10), enum_start):
            values = tuple(_value(n.group(0)) for n in _NUMBER.finditer(sentence, enum_start, m.end("body")))
            out.append(_make(sentence[enum_start : m.end()], enum_start, values, unit))
            continue
        if enum_start >= 0 and not _CANNOT_ENUMERATE.search(sentence, max(0, enum_start - 12), enum_start):
            for n in _NUMBER.finditer(sentence, enum_start, m.end("enum")):
                out.append(_make(n.group(0), n.start(), (_value(n.group(0)),), unit))
        body_start = m.start("body")
        values = tuple(_value(n.group(0)) for n in _NUMBER.finditer(sentence, body_start, m.end("body")))
        out.append(_make(sentence[body_start : m.end()], body_start, values, unit))
    return tuple(out)

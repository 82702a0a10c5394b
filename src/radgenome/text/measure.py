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

Each measurement has a kind (:class:`~radgenome.model.SizeKind`), read from the words around it:

- ``upper_bound``: ``not exceeding 1 cm``, ``less than 1 cm``, ``below 1 cm``, ``at most 5 mm``, ``< 1 cm``;
- ``lower_bound``: ``more than 2 cm``, ``exceeding 10 mm``, ``at least 3 cm``, ``> 2 cm``;
- ``prior``: a size of an earlier examination — ``(8.5 mm in diameter in the previous examination)``,
  ``was measured as 14 mm in the previous CT``, ``previously 8 mm``, ``from 12 mm`` (to 15 mm);
- ``measured``: every other size (the current one). Only these answer a finding's size. ``measuring up to 78 mm``
  and ``a maximum diameter of 25 mm`` are measured: in reports they give the largest size found, not a bound.

Not measurements (deliberately skipped): areas and volumes (``cm2``, ``mm²``, ``cm3``, ``mm3``, ``cc``,
``ml``) — they are not lengths and have no largest dimension; pressures (``mm Hg``, ``mmHg``, ``cm H2O``);
densities (``HU``, ``Hounsfield``); image/series/slice numbers, dates (``7.12.2021``), vertebra levels
(``T8-9``), percentages and grades — none of them has a length unit.
"""

from __future__ import annotations

import re
from itertools import pairwise

from radgenome.model import Measurement, SizeKind

__all__ = ["parse_measurements", "size_kind", "to_mm"]

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


# a bound word right before the number ("a short axis not exceeding 1 cm", "with a diameter of less than 5 mm")
_BOUND_TAIL = (
    r"\s*(?:(?:a|an|the)\s+)?(?:(?:short|long|largest|maximum|greatest)\s+)?"
    r"(?:(?:axis|axes|diameters?|sizes?|thickness|width|length)\s+)?(?:of\s+)?$"
)
_UPPER = re.compile(
    r"(?:\bnot\s+exceed(?:ing|s)?|\bdo(?:es)?\s+not\s+exceed|\bless\s+than|\bsmaller\s+than|"
    r"\bshorter\s+than|\bthinner\s+than|\bbelow|\bunder|\bat\s+most|\bnot\s+reaching|<=?|≤)"
    + _BOUND_TAIL,
    re.IGNORECASE,
)
_LOWER = re.compile(
    r"(?:\bmore\s+than|\bgreater\s+than|\blarger\s+than|\blonger\s+than|\bthicker\s+than|\bover|"
    r"(?<!not\s)\bexceed(?:ing|s)?|\bat\s+least|\babove|>=?|≥)" + _BOUND_TAIL,
    re.IGNORECASE,
)
_EARLIER = r"(?:previous|prior|earlier|former|last|old|preceding|initial)"
_NOT_NOW = r"(?:(?!\b(?:now|current\w*|present|presently|today|recent|new)\b)[^;:()])"
# "... 8.5 mm in diameter in the previous examination)", "14 mm in the previous CT examination"
_PRIOR_AFTER = re.compile(
    rf"{_NOT_NOW}{{0,40}}?\b(?:in|on|at|of)\s+(?:the\s+|his\s+|her\s+|an?\s+)?(?:\w+\s+){{0,2}}?{_EARLIER}\b",
    re.IGNORECASE,
)
# "previously 8 mm", "in the previous examination it was measured as 8 mm" (a past-tense verb after the cue:
# "the lesion, not present in the previous examination, measures 12 mm" is a current size)
_PRIOR_BEFORE = re.compile(
    rf"(?:\bpreviously\b|\b(?:in|on)\s+(?:the\s+)?(?:\w+\s+){{0,2}}?{_EARLIER}\s+(?:\w+\s+){{0,2}}?"
    rf"(?:examinations?|exams?|stud(?:y|ies)|ct|scans?|imaging|tomography|pet(?:-ct)?|mri?|one)\b"
    rf"{_NOT_NOW}{{0,30}}?\b(?:was|were|had\s+been|measur(?:ed|ing))\b)"
    rf"(?:(?!\b(?:is|are|measures)\b){_NOT_NOW}){{0,40}}$",
    re.IGNORECASE,
)
_EARLIER_WORD = re.compile(rf"{_EARLIER}|previously", re.IGNORECASE)
_FROM_BEFORE = re.compile(r"\bfrom\s+$", re.IGNORECASE)
_TO_AFTER = re.compile(r"\s*to\s+\d", re.IGNORECASE)
_KIND_WINDOW = 70
# every word a kind cue above can start with (a cheap test before the cues themselves)
_KIND_CUES = re.compile(
    r"exceed|up\s+to|less|small|short|thin|below|under|most|reach|maxim|more|great|larg|long|thick|over|least|"
    r"above|previous|prior|earlier|former|\bold|preceding|initial|\bfrom\b|[<>≤≥]",
    re.IGNORECASE,
)
_ENUM_GAP = re.compile(r"\s*(?:,|and|or|,\s*and)\s*")


def size_kind(sentence: str, start: int, end: int) -> SizeKind:
    """The kind of the size written at ``sentence[start:end]`` (see the module docstring)."""
    before = sentence[max(0, start - _KIND_WINDOW) : start]
    after = sentence[end : end + _KIND_WINDOW]
    if (_EARLIER_WORD.search(after) and _PRIOR_AFTER.match(after)) or (
        _EARLIER_WORD.search(before) and _PRIOR_BEFORE.search(before)
    ):
        return SizeKind.PRIOR
    if _FROM_BEFORE.search(before) and _TO_AFTER.match(after):
        return SizeKind.PRIOR
    if _UPPER.search(before):
        return SizeKind.UPPER_BOUND
    if _LOWER.search(before):
        return SizeKind.LOWER_BOUND
    return SizeKind.MEASURED


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
    if out and _KIND_CUES.search(sentence) is not None:  # most sentences have no bound or comparison word at all
        for meas in out:
            meas.kind = size_kind(sentence, meas.start, meas.end)
        _share_enumeration_kinds(sentence, out)
    return tuple(out)


def _share_enumeration_kinds(sentence: str, out: list[Measurement]) -> None:
    """"up to 4, 5 and 7 mm": the numbers of one enumeration share the kind of its first number."""
    for a, b in pairwise(out):
        if (
            a.kind is not SizeKind.MEASURED
            and b.kind is SizeKind.MEASURED
            and b.start - a.end <= 6
            and _ENUM_GAP.fullmatch(sentence, a.end, b.start)
        ):
            b.kind = a.kind

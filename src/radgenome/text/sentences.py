"""Sentence splitting tuned to CT-RATE's quirks.

Kept together: decimals (``4.6 mm``, ``1.5 x 2 cm``), dates (``4.4.2020``), ordinals (``left 6. rib``),
``window;`` clauses, abbreviations (``approx.``, ``e.g.``). Split: ``.``/``!``/``?`` followed by a capital
(with or without a space, ``end.No pathological``), numbered impression lists (``1. ... 2. ...``), bullets
and blank lines. Every non-space character of the input lands in a sentence or in a list marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = frozenset(
    {"approx", "e.g", "i.e", "eg", "ie", "dr", "mr", "mrs", "ms", "vs", "etc", "cf", "fig", "no", "nr", "st", "max",
     "min", "ca", "resp", "prof", "ref", "incl", "al", "sr", "jr"}
)

# Candidate boundaries: a run of terminal punctuation (plus closing brackets/quotes) followed by whitespace or
# directly by a capital letter, a blank line, or a newline before a list marker / bullet.
_CANDIDATE = re.compile(
    r"[.!?]+[\"'\)\]]*(?=\s|[A-Z]|$)|\n\s*\n|\n(?=\s*(?:\d{1,2}[.)]|[-•*])\s)"
    r"|(?<=[A-Za-z)])  +(?=[A-Z][a-z])"  # CT-RATE impressions separate items by two spaces, sometimes no period
    r"|\.(?<=[a-z]{4}\.)(?=\d)"  # "was detected.3 mm calculus" (a word's period, then a size)
)
_SIZE_AHEAD = re.compile(r"\s*\d+(?:[.,]\d+)?(?:\s*[x×*]\s*\d+(?:[.,]\d+)?)*\s*-?\s*(?:mm|cm|millimet|centimet)", re.I)
_LIST_MARKER = re.compile(r"(?:\d{1,2}[.)]|[-•*])\s+")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_BARE_NUMBER = re.compile(r"\s*\d{1,2}")


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    start: int
    end: int
    marker: str = ""


def _is_boundary(text: str, seg_start: int, punct_start: int, punct_end: int) -> bool:
    if punct_start - seg_start <= 4 and _BARE_NUMBER.fullmatch(text, seg_start, punct_start):
        return False  # "1." opening a numbered item is its marker, not a sentence
    # fast path, most boundaries: "word. Next" with a plain lower-case word before the period
    if (
        punct_end == punct_start + 1
        and text[punct_start] == "."
        and punct_end + 1 < len(text)
        and text[punct_end] == " "
        and text[punct_end + 1].isupper()
    ):
        word_start = text.rfind(" ", max(0, punct_start - 40), punct_start) + 1
        word = text[word_start:punct_start]
        if len(word) > 3 and word.isalpha() and word.islower() and word not in _ABBREVIATIONS:
            return True
    first = text[punct_start]
    if first == "\n" or first == " ":
        return True  # a blank line, a newline before a list item, or CT-RATE's double-space item break
    n = len(text)
    j = punct_end
    spaced = j < n and text[j].isspace()
    while j < n and text[j].isspace():
        j += 1
    if j >= n:
        return True
    nxt = text[j]
    punct = text[punct_start:punct_end]
    if nxt.islower():
        # "left 6. rib", "approx. size", "5 mm. in" stay together; "was detected. sliding type hernia" splits
        if not spaced or punct != ".":
            return False
        prev_word_m = _WORD_BEFORE.search(text, max(0, punct_start - 40), punct_start)
        prev_word = prev_word_m.group(1).lower() if prev_word_m else ""
        return len(prev_word) >= 4 and prev_word.isalpha() and prev_word not in _ABBREVIATIONS
    if nxt.isupper() or nxt in "\"'(":
        prev_word_m = _WORD_BEFORE.search(text, max(0, punct_start - 40), punct_start)
        prev_word = prev_word_m.group(1).lower().rstrip(".") if prev_word_m else ""
        if not spaced:
            # "end.No": only a real boundary when a lower-case word ends and a capitalised word starts
            before = text[punct_start - 1] if punct_start else ""
            after2 = text[j + 1] if j + 1 < n else ""
            one_letter_word = nxt in "AI" and after2 == " "  # "detected.A nodule"
            if not (before.islower() or before == ")") or not (after2.islower() or after2.isupper() or one_letter_word):
                return False
            if "." in prev_word:  # e.g.X / i.e.Y
                return False
            return len(prev_word) > 1 or before == ")"
        if punct == "." and prev_word in _ABBREVIATIONS and prev_word != "no":
            return False
        if punct == "." and len(prev_word) == 1 and prev_word.isalpha() and prev_word_m is not None:
            # a single initial ("T. Smith") — but a one-letter word at a real end is rare in reports
            start = prev_word_m.start(1)
            if start > 0 and text[start - 1] == ".":
                return False
        return True
    if nxt.isdigit():
        # a numbered list item ("... . 2. Atelectasis") starts a new sentence; "left 6. rib" does not
        if spaced and _LIST_MARKER.match(text, j) is not None and punct.endswith((".", "!", "?", ")")):
            return True
        # "No stone was detected. 3 mm calculus is observed": a sentence may start with a size
        if punct == "." and _SIZE_AHEAD.match(text, punct_end):
            prev_word_m = _WORD_BEFORE.search(text, max(0, punct_start - 40), punct_start)
            prev_word = prev_word_m.group(1) if prev_word_m else ""
            return len(prev_word) >= 4 and prev_word.isalpha() and prev_word.islower() and (
                prev_word not in _ABBREVIATIONS)
        return False
    if nxt in "-•*":
        return spaced and _LIST_MARKER.match(text, j) is not None
    return False


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentence spans (character offsets into ``text``)."""
    spans: list[Span] = []
    pos = 0
    for m in _CANDIDATE.finditer(text):
        if m.end() <= pos:
            continue
        if _is_boundary(text, pos, m.start(), m.end()):
            _emit(text, pos, m.end(), spans)
            pos = m.end()
    _emit(text, pos, len(text), spans)
    return spans


def _emit(text: str, start: int, end: int, spans: list[Span]) -> None:
    # trim whitespace, peel a leading list marker
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    start += len(piece) - len(piece.lstrip())
    end = start + len(stripped)
    first = stripped[0]
    if not (first.isdigit() or first in "-•*"):
        spans.append(Span(stripped, start, end))
        return
    marker = ""
    m = _LIST_MARKER.match(text, start, end)
    if m and m.end() < end:
        marker = text[start : m.end()].strip()
        start = m.end()
    if marker and not text[start:end].strip(" .;:"):
        # a marker with nothing after it is kept as text so nothing is lost
        start = start - len(marker)
        marker = ""
    spans.append(Span(text[start:end], start, end, marker))

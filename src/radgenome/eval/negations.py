"""Audit: stated negatives that a ``text`` output emits as abnormalities (the target is zero).

This is an independent check of the polarity rules, not a second copy of them: a finding phrase reported as
present or uncertain is a violation when its own clause reads as a plain denial — the clause starts with ``no``
/ ``without`` / ``neither`` / ``absence of`` before the phrase, or a negated verb (``was not observed``,
``were not detected``, ``is not seen``, ``could not be detected``) follows it with nothing but words between.
Clauses are cut at ``;``, brackets, ``but``, ``however``, ``whereas``, ``although``, ``since``, ``, and`` and
``and`` followed by a new subject; pseudo-negations ("no significant change in the nodule", "not observed in
the previous examination") deny nothing. Every violation is listed for a human to judge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radgenome.model import OutputLayout

_CLAUSE_CUT = re.compile(
    r";|\bbut\b|\bhowever\b|\bwhereas\b|\balthough\b|\bwhile\b|\bsince\b|\(|\)|, and\b|"
    r"\band (?=(?:a|an|the|there|no|[a-z]+ (?:is|are|was|were))\b)|, (?=(?:the|there|a|an)\b)"
)
# a verb and a comma between "no" and the phrase close the denial ("No X detected, Y" does not deny Y;
# "No X was observed in terms of Y, Z" still denies Z)
_VERB = re.compile(r"\b(?:detected|observed|seen|noted|identified|found|present|is|are|was|were)\b[^,]*,")
_PRE = re.compile(r"^\s*(?:[a-z]+ ){0,3}?(?:no|without|neither|absence of|free of|negative for)\b")
_POST = re.compile(
    r"^[^.;]{0,80}?\b(?:was|were|is|are|has been|have been|could|can)\s+not\s+(?:be\s+)?"
    r"(?:observed|detected|seen|present|noted|identified|visualized|found|evaluated)\b"
)
_PSEUDO = re.compile(
    r"\bno (?:significant |marked |obvious )?(?:(?:size|dimensional|structural|morphological)(?: and| or|,)? )*"
    r"(?:change|changes|difference|progression|increase|regression)\b"
    r"|\bnot only\b|\bno longer\b|\bnon[- ]?specific\b|\bno distinction\b"
    r"|\bnot (?:observed|seen|detected|present|noted|visible) (?:in|on|at) (?:the )?(?:previous|prior|last)\b"
)


@dataclass(frozen=True, slots=True)
class Violation:
    volume: str
    sentence: str
    phrase: str
    polarity: str


def _clause_of(text: str, pos: int) -> tuple[int, int]:
    start, end = 0, len(text)
    for m in _CLAUSE_CUT.finditer(text):
        if m.end() <= pos:
            start = m.end()
        elif m.start() >= pos:
            end = m.start()
            break
    return start, end


def is_plain_denial(sentence: str, phrase: str) -> bool:
    """True when ``phrase`` sits in a clause of ``sentence`` that plainly denies it."""
    low = sentence.lower()
    pos = low.find(phrase)
    if pos < 0:
        return False
    start, end = _clause_of(low, pos)
    before, after = low[start:pos], low[pos:end]
    if _PSEUDO.search(low[start:end]):
        return False
    pre = _PRE.match(before)
    if pre and not _VERB.search(before, pre.end()):
        return True
    return bool(_POST.match(after))


def find_violations(rows: Iterable[dict[str, object]]) -> list[Violation]:
    """Rows of ``sentences.parquet`` (as dicts) -> stated findings whose clause denies them."""
    out: list[Violation] = []
    for row in rows:
        text = str(row["text"])
        for finding in row.get("findings") or []:  # type: ignore[union-attr]
            if finding["polarity"] == "absent":
                continue
            if is_plain_denial(text, finding["phrase"]):
                out.append(Violation(str(row["volume"]), text, finding["phrase"], finding["polarity"]))
    return out


@dataclass(frozen=True)
class NegationAudit:
    path: Path
    """The ``sentences.parquet`` read."""
    sentences: int
    stated: int
    """Findings stated present or uncertain."""
    violations: list[Violation]


def audit_negations(out: Path) -> NegationAudit:
    """Audit a ``radgenome text``/``build`` output folder (or its ``sentences.parquet``); raises ``OSError`` or
    ``ValueError`` when the table cannot be read."""
    import pyarrow.parquet as pq

    out = Path(out)
    path = OutputLayout(out).sentences if out.is_dir() else out
    rows = pq.read_table(path, columns=["volume", "text", "findings"]).to_pylist()
    stated = sum(1 for r in rows for f in (r["findings"] or []) if f["polarity"] != "absent")
    return NegationAudit(path, len(rows), stated, find_violations(rows))

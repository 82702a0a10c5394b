"""Recommendation clauses of a report sentence (grounding conventions rule 3; vocabulary in
``data/recommendations.toml``).

A sentence is cut into clauses at ``; : , ( )``. A clause with a recommendation cue ("is recommended",
"correlation", "will be appropriate", "should be evaluated") is a *recommendation clause*; unless it also
names a lesion ("nodule", "lesion", "effusion", ...), its text is blanked before grounding, so its words
("clinical", "breast US", "upper abdomen MRI", "in terms of Covid-19 pneumonia") add no region. A sentence
with a recommendation clause never inherits the region of the sentence before it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Recommendation", "recommendation_spans"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    spans: tuple[tuple[int, int], ...]
    """Character ranges of the recommendation clauses that name no lesion (blanked before grounding)."""
    clauses: int
    """Number of recommendation clauses (kept ones included)."""


@dataclass(frozen=True, slots=True)
class _Vocab:
    clause_break: re.Pattern[str]
    cue: re.Pattern[str]
    lesion: re.Pattern[str]


@cache
def _vocab() -> _Vocab:
    raw = tomllib.loads(
        resources.files("radgenome.text").joinpath("data/recommendations.toml").read_text("utf-8")
    )
    return _Vocab(re.compile(raw["clause_break"]), re.compile(raw["cue"]), re.compile(raw["lesion"]))


_NONE = Recommendation((), 0)


def recommendation_spans(low: str) -> Recommendation:
    """The recommendation clauses of a lower-case sentence."""
    v = _vocab()
    if v.cue.search(low) is None:
        return _NONE
    spans: list[tuple[int, int]] = []
    clauses = 0
    start = 0
    breaks = [(m.start(), m.end()) for m in v.clause_break.finditer(low)] + [(len(low), len(low))]
    for end, next_start in breaks:
        if end > start and v.cue.search(low, start, end):
            clauses += 1
            if v.lesion.search(low, start, end) is None:
                spans.append((start, end))
        start = next_start
    return Recommendation(tuple(spans), clauses)


def blank(low: str, spans: tuple[tuple[int, int], ...]) -> str:
    """``low`` with ``spans`` replaced by spaces (offsets unchanged)."""
    if not spans:
        return low
    parts: list[str] = []
    last = 0
    for a, b in spans:
        parts.append(low[last:a])
        parts.append(" " * (b - a))
        last = b
    parts.append(low[last:])
    return "".join(parts)

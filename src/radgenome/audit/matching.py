"""Finding a released phrase in a report: every mention, with the polarity and nodes the text engine gives it.

RadGenome's phrases are mostly copied from the report ("pericardial effusion", "lymph nodes in pathological
size and appearance"), sometimes reworded ("pulmonary emphysema" for "emphysema"). A phrase is looked up at
three levels, and only the best level that finds anything is used:

1. ``exact`` — its words in order (case, spacing, hyphens, plural ``s`` and ``3 . 4`` vs ``3.4`` ignored);
2. ``words`` — all its content words somewhere in one sentence;
3. ``head`` — its head word (the last content word before a preposition: ``nodes`` in ``lymph nodes in
   pathological size``); a generic head (``changes``, ``lesion``) also needs one more of its words.

Each mention's polarity is the engine's NegEx polarity at the matched words (words in different scopes make it
uncertain); its nodes are the sentence's grounding narrowed to the organ the phrase names, as the engine does
for its own findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from radgenome.audit import engine
from radgenome.audit.engine import ReportSentence, ReportView
from radgenome.audit.model import Polarity
from radgenome.audit.vocab import rules_data

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?|\(")
_SPACED_DECIMAL = re.compile(r"(\d)\s*\.\s*(\d)")


class Level(IntEnum):
    EXACT = 1
    WORDS = 2
    HEAD = 3


@dataclass(frozen=True, slots=True)
class Mention:
    sentence: ReportSentence
    polarity: Polarity
    nodes: tuple[str, ...]
    level: Level
    start: int
    end: int


def stem(word: str) -> str:
    """A crude plural-folding stem (``nodules`` -> ``nodule``, ``opacities`` -> ``opacity``)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def word_key(word: str) -> str:
    """The form a word is compared in at the ``words`` and ``head`` levels (plural and word forms folded)."""
    base = stem(word)
    return rules_data().word_forms.get(base, base)


def clean_phrase(phrase: str) -> str:
    return _SPACED_DECIMAL.sub(r"\1.\2", " ".join(phrase.lower().split()))


@dataclass(frozen=True, slots=True)
class PhraseWords:
    words: tuple[str, ...]
    """All words in order (for the exact level)."""
    content: frozenset[str]
    """Stemmed content words."""
    head: str
    head_generic: bool


@lru_cache(maxsize=65536)
def phrase_words(phrase: str) -> PhraseWords:
    data = rules_data()
    words = tuple(w for w in _WORD.findall(clean_phrase(phrase)) if w != "(")
    content = frozenset(word_key(w) for w in words if w not in data.stop_words and not w.isdigit())
    head = ""
    for w in _WORD.findall(clean_phrase(phrase)):
        if w in data.head_stops and head:
            break
        if w not in data.stop_words and w != "(" and not w[0].isdigit():
            head = word_key(w)
    return PhraseWords(words, content, head, head in data.generic_heads or head.rstrip("s") in data.generic_heads)


def _word_pattern(word: str) -> str:
    """A word with its plural folded (``nodules`` ~ ``nodule``, ``opacities`` ~ ``opacity``)."""
    base = stem(word)
    if len(base) > 3 and base.endswith("y"):
        return re.escape(base[:-1]) + "(?:y|ies)"
    return re.escape(base).replace(r"\.", r"\s*\.\s*") + "(?:e?s)?"


@lru_cache(maxsize=65536)
def _exact_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    parts = [_word_pattern(w) for w in words]
    return re.compile(r"(?<![a-z0-9])" + r"[^a-z0-9]{1,3}".join(parts) + r"(?![a-z0-9])")


@dataclass(frozen=True, slots=True)
class _Tokens:
    starts: dict[str, list[int]]


@lru_cache(maxsize=65536)
def _tokens(text: str) -> _Tokens:
    starts: dict[str, list[int]] = {}
    for m in _WORD.finditer(text.lower()):
        starts.setdefault(word_key(m.group(0)), []).append(m.start())
    return _Tokens(starts)


def _word_starts(text: str, start: int, end: int) -> list[int]:
    low = text.lower()
    data = rules_data()
    out = [m.start() + start for m in _WORD.finditer(low[start:end]) if m.group(0) not in data.stop_words]
    return out or [start]


def _head_at(sent: ReportSentence, head: str, start: int, end: int) -> int | None:
    for pos in _tokens(sent.text).starts.get(head, ()):
        if start <= pos < end:
            return pos
    return None


def _mention(sent: ReportSentence, phrase: str, starts: list[int], level: Level, head: int | None) -> Mention:
    return Mention(
        sentence=sent,
        polarity=engine.mention_polarity(sent.text, starts, head),
        nodes=engine.phrase_nodes(phrase, sent.nodes),
        level=level,
        start=min(starts),
        end=max(starts) + 1,
    )


def find_mentions(view: ReportView, phrase: str, *, loose: bool = False) -> list[Mention]:
    """Every mention of ``phrase`` in ``view`` at the best level that finds one (empty when none does); with
    ``loose``, every ``exact`` and ``words`` mention together (to look for a conflicting statement)."""
    pw = phrase_words(phrase)
    if not pw.content:
        return []
    pattern = _exact_pattern(pw.words)
    exact: list[Mention] = []
    words: list[Mention] = []
    head: list[Mention] = []
    for sent in view.sentences:
        low = sent.text.lower()
        if pattern is not None:
            for m in pattern.finditer(low):
                starts = _word_starts(sent.text, m.start(), m.end())
                exact.append(_mention(sent, phrase, starts, Level.EXACT, _head_at(sent, pw.head, m.start(), m.end())))
        if exact and not loose:
            continue
        toks = _tokens(sent.text)
        if all(w in toks.starts for w in pw.content):
            starts = [toks.starts[w][0] for w in pw.content]
            at = toks.starts[pw.head][0] if pw.head in toks.starts else None
            words.append(_mention(sent, phrase, starts, Level.WORDS, at))
            continue
        if pw.head and pw.head in toks.starts:
            others = [w for w in pw.content if w != pw.head and w in toks.starts]
            if pw.head_generic and not others:
                continue
            at = toks.starts[pw.head][0]
            head.append(_mention(sent, phrase, [at] + [toks.starts[w][0] for w in others], Level.HEAD, at))
    if loose:
        return exact + words
    return exact or words or head


def same_finding(a: str, b: str) -> bool:
    """Whether two phrases name the same finding (one's content words within the other's, or the same
    specific head word)."""
    wa, wb = phrase_words(a), phrase_words(b)
    if not wa.content or not wb.content:
        return False
    if wa.content <= wb.content or wb.content <= wa.content:
        return True
    return bool(wa.head) and wa.head == wb.head and not wa.head_generic

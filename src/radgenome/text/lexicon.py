"""The grounding lexicon (``data/grounding.toml``) and the mentions it finds in a sentence.

The lexicon is data: every entry is a regular expression with the hierarchy nodes it points at. One pass over
the word starts of a sentence finds every mention (the first entry, in file order, that matches at a position
wins); ``ignore`` entries mask text that looks anatomical but is not ("lung window", "thoracic inlet").
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.text.regex_parts import group_end, top_alternatives

__all__ = ["Entry", "Lexicon", "Mention", "find_mentions", "first_chars", "load_lexicon"]


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    nodes: tuple[str, ...]
    sided: str = ""
    handler: str = ""


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    end: int
    entry: Entry


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[Entry, ...]
    ignore: tuple[tuple[str, re.Pattern[str]], ...]
    """(trigger literal, pattern) of the entries that mask text before matching."""
    patterns: tuple[re.Pattern[str], ...]
    """One compiled pattern per entry (Python's ``re`` is many times slower on one big alternation of named
    groups, so entries are tried one by one, only those that can start with the word's first character)."""
    by_first_char: dict[str, tuple[int, ...]]
    """Entries (indices, in lexicon order) whose match can start with a given character."""


@cache
def load_lexicon() -> Lexicon:
    raw = tomllib.loads(
        resources.files("radgenome.text").joinpath("data/grounding.toml").read_text("utf-8")
    )
    hierarchy = load_hierarchy()
    entries: list[Entry] = []
    patterns: list[str] = []
    ignores: list[tuple[str, re.Pattern[str]]] = []
    for item in raw["entry"]:
        if item["kind"] == "ignore":
            ignores.append((item["trigger"], re.compile(item["pattern"])))
            continue
        nodes = tuple(item["nodes"])
        for node in nodes:
            if node not in hierarchy and node not in TOP_LEVEL_REGIONS:
                raise ValueError(f"grounding lexicon names unknown node {node!r}")
        entries.append(Entry(item["kind"], nodes, item.get("sided", ""), item.get("handler", "")))
        patterns.append(item["pattern"])
    firsts = [first_chars(p) for p in patterns]
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return Lexicon(
        entries=tuple(entries),
        ignore=tuple(ignores),
        patterns=tuple(re.compile(p) for p in patterns),
        by_first_char={
            c: tuple(i for i, f in enumerate(firsts) if f is None or c in f) for c in alphabet
        },
    )


def first_chars(pattern: str) -> frozenset[str] | None:
    """Characters a match of ``pattern`` can start with, when it starts at a word start (None: unknown).

    Understands what the lexicon uses: ``\\b``, optional whitespace, ``(?:...)`` groups (optional or not),
    literal letters and ``\\d``; anything else makes the answer unknown (the entry is then always tried).
    """
    out: set[str] = set()
    for alt in top_alternatives(pattern):
        s = alt
        while True:
            if s.startswith("\\b"):
                s = s[2:]
            elif s[:3] in ("\\s*", "\\s?", "\\s+"):
                s = s[3:]  # at a word start the match cannot begin with whitespace
            else:
                break
        if s.startswith("(?:"):
            end = group_end(s, 0)
            inner = first_chars(s[3:end])
            if inner is None:
                return None
            out |= inner
            if s[end + 1 : end + 2] in ("?", "*"):
                rest = first_chars(s[end + 2 :])
                if rest is None:
                    return None
                out |= rest
        elif s.startswith("\\d"):
            out.update("0123456789")
        elif s and s[0].isalnum():
            out.add(s[0])
        else:
            return None
    return frozenset(out)


# ------------------------------------------------------------------------------------------ side words


def _blank(m: re.Match[str]) -> str:
    return " " * (m.end() - m.start())


def _mask_ignored(text: str, lex: Lexicon) -> str:
    for trigger, pattern in lex.ignore:
        if trigger in text:
            text = pattern.sub(_blank, text)
    return text


_WORD_START = re.compile(r"\b[a-z0-9]")


def find_mentions(text: str) -> list[Mention]:
    """Every lexicon mention in ``text`` (which must already be lower-case)."""
    lex = load_lexicon()
    masked = _mask_ignored(text, lex)
    out: list[Mention] = []
    end = 0
    by_first, patterns, entries = lex.by_first_char, lex.patterns, lex.entries
    for w in _WORD_START.finditer(masked):
        pos = w.start()
        if pos < end:
            continue
        # the first entry (in lexicon order) that matches here wins, as in the ``combined`` alternation
        for i in by_first.get(masked[pos], ()):
            m = patterns[i].match(masked, pos)
            if m is not None:
                out.append(Mention(pos, m.end(), entries[i]))
                end = m.end()
                break
    return out

"""Rule-based grounding: which nodes of the region hierarchy a report sentence is about.

The lexicon is data (``data/grounding.toml``). One compiled alternation finds every mention in a single
pass; dedicated resolvers refine lung mentions to sides and lobes (segments map to their lobe), rib mentions
to rib numbers and sides, and vertebra mentions to levels. A sentence that names no anatomy takes the region
its finding implies ("emphysema" -> lung), else the region of the sentence before it when it reads as a
continuation, else ``others``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.text.conventions import apply_conventions
from radgenome.text.lexicon import Entry, Lexicon, Mention, find_mentions, first_chars, load_lexicon
from radgenome.text.recommendations import blank, recommendation_spans
from radgenome.text.resolvers import (
    SIDE,
    resolve_lung,
    resolve_rib,
    resolve_vertebra,
    side_word,
    sides_after,
    sides_before,
)

__all__ = [
    "OTHERS",
    "Entry",
    "Grounding",
    "Lexicon",
    "Mention",
    "SentenceAnalysis",
    "find_mentions",
    "finest",
    "first_chars",
    "ground_analysis",
    "ground_sentence",
    "load_lexicon",
    "lower_same_length",
    "resolve_lung",
    "resolve_rib",
    "resolve_vertebra",
]

OTHERS = "others"

CONF_ANATOMY = 1.0
CONF_FINDING = 0.8
CONF_CONTEXT = 0.6
CONF_OTHERS = 0.3


@dataclass(frozen=True, slots=True)
class Grounding:
    nodes: tuple[str, ...]
    confidence: float
    source: str
    """``anatomy`` | ``finding`` | ``context`` | ``others``."""
    mentions: tuple[Mention, ...] = ()


_CONTINUATION = re.compile(
    r"^\s*(?:it|its|this|these|those|they|which|the (?:lesion|nodule|mass|finding|largest|other)s?|"
    r"in addition|additionally|also|however|the findings?|compatible|consistent|the appearance)\b",
)


def _resolve(text: str, mentions: list[Mention]) -> list[str]:
    nodes: list[str] = []
    lung_done = False
    mediastinal = any("mediastinal tissue" in m.entry.nodes and m.entry.kind == "anatomy" for m in mentions)
    for men in mentions:
        entry = men.entry
        handler = entry.handler
        if handler == "hilar":
            if mediastinal:
                continue  # "mediastinal and hilar lymph nodes" are mediastinal
            handler = "lung"
        if handler == "lung":
            nodes.extend(n for n in entry.nodes if n != "lung")
            if not lung_done:
                nodes.extend(resolve_lung(text))
                lung_done = True
        elif handler == "rib":
            nodes.extend(resolve_rib(text, men))
        elif handler == "vertebra":
            nodes.extend(resolve_vertebra(text, men))
        elif entry.sided:
            inside = SIDE.findall(text, men.start, men.end)
            sides = (
                tuple(sorted({s for w in inside for s in side_word(w)}))
                or sides_before(text, men.start)
                or sides_after(text, men.end)
            )
            if sides:
                nodes.extend(entry.sided.format(side=s) for s in sides)
            else:
                nodes.extend(entry.nodes)
        else:
            nodes.extend(entry.nodes)
    return nodes


def finest(nodes: list[str]) -> tuple[str, ...]:
    """Drop nodes that are ancestors of other nodes in the list; keep first-seen order."""
    h = load_hierarchy()
    uniq = list(dict.fromkeys(nodes))
    keep = []
    for n in uniq:
        if n in TOP_LEVEL_REGIONS and n not in h:
            # a whole-region mention is dropped when a node of that region is also named
            if any(o != n and o in h and n in h.top_regions(o) for o in uniq):
                continue
            keep.append(n)
            continue
        if any(o != n and o in h and n in h.ancestors(o) for o in uniq):
            continue
        keep.append(n)
    return tuple(keep)


def _without_others(nodes: tuple[str, ...]) -> tuple[str, ...]:
    """``others`` only when nothing else: "axillary and mediastinal lymph nodes" are mediastinal."""
    if OTHERS in nodes and len(nodes) > 1:
        return tuple(n for n in nodes if n != OTHERS)
    return nodes


def lower_same_length(text: str) -> str:
    """Lower-case ``text`` keeping every character at its offset (so spans stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower()[:1] or c for c in text)


@dataclass(frozen=True, slots=True)
class SentenceAnalysis:
    anatomy: tuple[str, ...]
    implied: tuple[str, ...]
    continuation: bool
    mentions: tuple[Mention, ...]
    recommendation: bool = False
    """The sentence has a recommendation clause: it never inherits the previous sentence's region."""
    general: bool = False
    """A general statement ("no obvious pathology was detected", "other findings are stable"): with no anatomy
    and no finding of its own it is ``others`` and does not inherit."""
    own: Grounding | None = None
    """The grounding when it does not depend on the sentence before (named anatomy); built once."""
    by_finding: Grounding | None = None
    """The grounding its findings imply (used unless the sentence continues the one before)."""


@lru_cache(maxsize=200_000)
def ground_analysis(text: str) -> SentenceAnalysis:
    """The context-free part of grounding (cached: CT-RATE reuses the same sentences very often)."""
    low = lower_same_length(text)
    rec = recommendation_spans(low)
    low = blank(low, rec.spans)
    mentions = apply_conventions(low, find_mentions(low))
    anatomy = [m for m in mentions if m.entry.kind == "anatomy"]
    implied = [m for m in mentions if m.entry.kind == "finding"]
    if not anatomy:
        # weak words ("parenchyma", "segment") ground only when nothing stronger does; with them, the
        # regions the findings imply count as named too ("effusion in the right hemithorax")
        anatomy = [m for m in mentions if m.entry.kind == "weak"]
        if anatomy:
            anatomy += implied
    nodes = _without_others(finest(_resolve(low, anatomy))) if anatomy else ()
    implied_nodes = _without_others(finest(_resolve(low, implied))) if implied else ()
    return SentenceAnalysis(
        own=Grounding(nodes, CONF_ANATOMY, "anatomy", tuple(mentions)) if nodes else None,
        by_finding=Grounding(implied_nodes, CONF_FINDING, "finding", tuple(mentions)) if implied_nodes else None,
        anatomy=nodes,
        implied=implied_nodes,
        continuation=_CONTINUATION.match(low) is not None,
        mentions=tuple(mentions),
        recommendation=rec.clauses > 0,
        general=any(m.entry.kind == "general" for m in mentions),
    )


def ground_sentence(text: str, previous: Grounding | None = None) -> Grounding:
    """Ground one sentence; ``previous`` is the grounding of the sentence before it in the same section."""
    a = ground_analysis(text)
    if a.own is not None:
        return a.own
    can_inherit = previous is not None and previous.nodes != (OTHERS,) and not a.recommendation
    if a.continuation and can_inherit and previous is not None:
        return Grounding(previous.nodes, CONF_CONTEXT, "context", a.mentions)
    if a.by_finding is not None:
        return a.by_finding
    if can_inherit and previous is not None and not a.general:
        return Grounding(previous.nodes, CONF_CONTEXT * 0.75, "context", a.mentions)
    return Grounding((OTHERS,), CONF_OTHERS, "others", a.mentions)

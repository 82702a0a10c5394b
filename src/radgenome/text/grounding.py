"""Rule-based grounding: which nodes of the region hierarchy a report sentence is about.

The lexicon is data (``data/grounding.toml``). One compiled alternation finds every mention in a single
pass; dedicated resolvers refine lung mentions to sides and lobes (segments map to their lobe), rib mentions
to rib numbers and sides, and vertebra mentions to levels. A sentence that names no anatomy takes the region
its finding implies ("emphysema" -> lung), else the region of the sentence before it when it reads as a
continuation, else ``others``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.text.regex_parts import group_end, top_alternatives

OTHERS = "others"

CONF_ANATOMY = 1.0
CONF_FINDING = 0.8
CONF_CONTEXT = 0.6
CONF_OTHERS = 0.3


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


@dataclass(frozen=True, slots=True)
class Grounding:
    nodes: tuple[str, ...]
    confidence: float
    source: str
    """``anatomy`` | ``finding`` | ``context`` | ``others``."""
    mentions: tuple[Mention, ...] = ()


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
_SIDE = re.compile(r"\b(right|left|both|either|bilateral(?:ly)?|bibasal|bibasilar)\b")
_SIDE_AFTER = re.compile(
    r"^\W{0,3}(?:\w+\W+){0,3}?(?:on|in|at) the (right|left)(?: side)?\b|^\W{0,3}(bilaterally|on both sides)\b",
)
_BOUNDARY_CHARS = re.compile(r"[;.]|\band\b(?= (?:no|the|there|a|an)\b)")


def _side_word(word: str) -> tuple[str, ...]:
    w = word.lower()
    if w in ("right", "left"):
        return (w,)
    return ("left", "right")


def _sides_before(text: str, start: int, window: int = 40) -> tuple[str, ...]:
    lo = max(0, start - window)
    chunk = text[lo:start]
    cut = [m.end() for m in _BOUNDARY_CHARS.finditer(chunk)]
    if cut:
        chunk = chunk[cut[-1] :]
    found = _SIDE.findall(chunk)
    if not found:
        return ()
    sides: set[str] = set()
    # "right and left adrenal glands" -> both; otherwise the nearest side word
    tail = chunk.lower()
    if re.search(r"\b(right|left)\b\s*(?:and|,|-)\s*\b(right|left)\b", tail):
        return ("left", "right")
    sides.update(_side_word(found[-1]))
    return tuple(sorted(sides))


def _sides_after(text: str, end: int) -> tuple[str, ...]:
    m = _SIDE_AFTER.search(text[end : end + 40])
    if not m:
        return ()
    return _side_word(m.group(1) or m.group(2) or "both")


# ------------------------------------------------------------------------------------------------ lungs
_LOBE = re.compile(
    r"\b(?P<lvl>upper|middle|lower|inferior|superior)\s+lob(?:e|es)\b"
    r"|\b(?P<lingula>lingul\w*)"
    r"|\b(?P<upperseg>apicoposterior|apical|anterior|posterior|apex|apices)\s+(?:segments?|parts?|zones?|areas?|of)\b"
    r"|\b(?P<lowerseg>(?:antero|latero|postero|medio|anteromedio|anterolatero|posterolatero)?basal|superior)\s+segments?\b"
    r"|\b(?P<middleseg>medial|lateral)\s+segments?\b(?=[^.;]{0,30}middle lob)"
    r"|\b(?P<upperzone>apex|apices|apical)\b"
    r"|\b(?P<lowerzone>bases|basal|bibasal|bibasilar|basilar)\b",
)
_OF_SIDE_LUNG = re.compile(
    r"^(?:\s*(?:and|or|,|-)\s*(?:the\s+)?(?:upper|middle|lower|inferior|superior)\s+lob(?:e|es))*"
    r"[^.;]{0,25}?\bof (?:the )?(right|left|both) lungs?\b",
)
_LUNG_SIDE = re.compile(
    r"\b(right|left|both|either|bilateral)\s+(?:lung\w*|hemithora\w*|pulmonary)\b"
    r"|\blungs?\s+bilaterally\b|\bbilaterally\b|\bbilateral\b|\bboth\b",
)
_LEVEL = {"upper": "upper", "superior": "upper", "middle": "middle", "lower": "lower", "inferior": "lower"}


def _lobe_node(level: str, side: str | None) -> list[str]:
    if level == "middle":
        if side == "left":  # "left middle lobe" is the lingula of the left upper lobe
            return ["left lung upper lobe"]
        return ["right lung middle lobe"]
    if side is None:
        return [f"lung {level} lobe"]
    return [f"{side} lung {level} lobe"]


def _lobe_level(m: re.Match[str]) -> str:
    if m.group("lvl"):
        return _LEVEL[m.group("lvl").lower()]
    if m.group("lingula"):
        return "lingula"
    if m.group("upperseg") or m.group("upperzone"):
        return "upper"
    if m.group("middleseg"):
        return "middle"
    return "lower"


def resolve_lung(text: str) -> list[str]:
    """Lung nodes of a sentence: lobes with sides where stated, else sides, else ``lung``."""
    nodes: list[str] = []
    lobes = list(_LOBE.finditer(text))
    explicit_lobe = any(m.group("lvl") or m.group("lingula") for m in lobes)
    for m in lobes:
        if (m.group("upperzone") or m.group("lowerzone")) and explicit_lobe:
            continue
        level = _lobe_level(m)
        if level == "lingula":
            nodes.append("left lung upper lobe")
            continue
        prefix = text[max(0, m.start() - 14) : m.start()].lower()
        sides: tuple[str, ...] = ()
        pm = re.search(r"\b(right|left|both|bilateral)\s+(?:lungs?\s+)?$", prefix)
        if pm:
            sides = _side_word(pm.group(1))
        else:
            om = _OF_SIDE_LUNG.search(text[m.end() : m.end() + 80])
            if om:
                sides = _side_word(om.group(1))
            elif m.group("lowerzone") and m.group("lowerzone").lower().startswith("bi"):
                sides = ("left", "right")
            else:
                sides = _nearest_lung_side(text, m.start())
        plural = m.group(0).lower().endswith(("lobes", "bases", "apices"))
        if not sides and plural and level != "middle":
            sides = ("left", "right")
        if sides:
            for side in sides:
                nodes.extend(_lobe_node(level, side))
        else:
            nodes.extend(_lobe_node(level, None))
    if nodes:
        return nodes
    sides_found: set[str] = set()
    for m in _LUNG_SIDE.finditer(text):
        word = m.group(1) or "both"
        sides_found.update(_side_word(word))
    if sides_found:
        return [f"{s} lung" for s in sorted(sides_found)]
    return ["lung"]


def _nearest_lung_side(text: str, pos: int) -> tuple[str, ...]:
    best: tuple[int, tuple[str, ...]] | None = None
    for m in _LUNG_SIDE.finditer(text):
        dist = pos - m.start() if m.start() < pos else (m.start() - pos) * 2
        side = _side_word(m.group(1) or "both")
        if best is None or dist < best[0]:
            best = (dist, side)
    return best[1] if best else ()


# ------------------------------------------------------------------------------------------------- ribs
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th|\.)?"
_RIB_NUMBERS = re.compile(
    rf"\b{_ORDINAL}(?:\s*(?:-|,|and|to)\s*{_ORDINAL})*"
    r"(?=\s+(?:and\s+\d{1,2}\w*\s+)?(?:anterior |posterior |lateral )?(?:ribs?|costa))",
)
_NUM = re.compile(r"\d{1,2}")


def resolve_rib(text: str, mention: Mention) -> list[str]:
    window_start = max(0, mention.start - 45)
    chunk = text[window_start : mention.end]
    numbers: list[int] = []
    for m in _RIB_NUMBERS.finditer(chunk):
        span = m.group(0)
        vals = [int(v) for v in _NUM.findall(span)]
        if re.search(r"\d\s*-\s*\d", span) and len(vals) == 2 and vals[0] < vals[1] <= 12:
            vals = list(range(vals[0], vals[1] + 1))
        numbers.extend(v for v in vals if 1 <= v <= 12)
    sides = _sides_before(text, mention.start, 45) or _sides_after(text, mention.end)
    if not numbers:
        return [f"{s} rib" for s in sides] if sides else ["rib"]
    out: list[str] = []
    for n in dict.fromkeys(numbers):
        if sides:
            out.extend(f"{s} rib {n}" for s in sides)
        else:
            out.append(f"rib {n}")
    return out


# -------------------------------------------------------------------------------------------- vertebrae
_VERT = re.compile(r"\b(c|t|th|d|l)\s?(\d{1,2})(?:\s?-\s?(c|t|th|d|l)?\s?(\d{1,2}))?\b")
_VERT_NAMES = {"c": ("cervical", 7), "t": ("thoracic", 12), "l": ("lumbar", 6)}


_VERT_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th|\.) (thoracic|dorsal|lumbar|cervical)")
_VERT_WORD = {"thoracic": "t", "dorsal": "t", "lumbar": "l", "cervical": "c"}


def resolve_vertebra(text: str, mention: Mention) -> list[str]:
    out: list[str] = []
    om = _VERT_ORDINAL.match(text, mention.start)
    if om:
        let = _VERT_WORD[om.group(2)]
        name, top = _VERT_NAMES[let]
        n = int(om.group(1))
        return [f"{name} vertebrae {n} ({let}{n})"] if 1 <= n <= top else [f"{name} vertebrae"]
    for m in _VERT.finditer(text[mention.start : mention.end]):
        letter = m.group(1).lower()
        letter = "t" if letter in ("th", "d") else letter
        first = int(m.group(2))
        last_letter = (m.group(3) or letter).lower()
        last_letter = "t" if last_letter in ("th", "d") else last_letter
        last = int(m.group(4)) if m.group(4) else first
        levels: list[tuple[str, int]] = []
        if last_letter == letter and last >= first:
            levels = [(letter, n) for n in range(first, last + 1)]
        else:
            levels = [(letter, first), (last_letter, last)]
        for let, n in levels:
            name, top = _VERT_NAMES[let]
            if 1 <= n <= top:
                out.append(f"{name} vertebrae {n} ({let}{n})")
    return out or ["vertebrae"]


# ------------------------------------------------------------------------------------------- grounding
_CONTINUATION = re.compile(
    r"^\s*(?:it|its|this|these|those|they|which|the (?:lesion|nodule|mass|finding|largest|other)s?|"
    r"in addition|additionally|also|however|the findings?|clinical|correlation|follow[- ]up|"
    r"it is recommended|recommended|compatible|consistent|the appearance)\b",
)


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
            inside = _SIDE.findall(text, men.start, men.end)
            sides = (
                tuple(sorted({s for w in inside for s in _side_word(w)}))
                or _sides_before(text, men.start)
                or _sides_after(text, men.end)
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
    own: Grounding | None = None
    """The grounding when it does not depend on the sentence before (named anatomy); built once."""
    by_finding: Grounding | None = None
    """The grounding its findings imply (used unless the sentence continues the one before)."""


@lru_cache(maxsize=200_000)
def ground_analysis(text: str) -> SentenceAnalysis:
    """The context-free part of grounding (cached: CT-RATE reuses the same sentences very often)."""
    low = lower_same_length(text)
    mentions = find_mentions(low)
    anatomy = [m for m in mentions if m.entry.kind == "anatomy"]
    implied = [m for m in mentions if m.entry.kind == "finding"]
    if not anatomy:
        # weak words ("parenchyma", "segment") ground only when nothing stronger does; with them, the
        # regions the findings imply count as named too ("effusion in the right hemithorax")
        anatomy = [m for m in mentions if m.entry.kind == "weak"]
        if anatomy:
            anatomy += implied
    nodes = finest(_resolve(low, anatomy)) if anatomy else ()
    implied_nodes = finest(_resolve(low, implied)) if implied else ()
    return SentenceAnalysis(
        own=Grounding(nodes, CONF_ANATOMY, "anatomy", tuple(mentions)) if nodes else None,
        by_finding=Grounding(implied_nodes, CONF_FINDING, "finding", tuple(mentions)) if implied_nodes else None,
        anatomy=nodes,
        implied=implied_nodes,
        continuation=_CONTINUATION.match(low) is not None,
        mentions=tuple(mentions),
    )


def ground_sentence(text: str, previous: Grounding | None = None) -> Grounding:
    """Ground one sentence; ``previous`` is the grounding of the sentence before it in the same section."""
    a = ground_analysis(text)
    if a.own is not None:
        return a.own
    can_inherit = previous is not None and previous.nodes != (OTHERS,)
    if a.continuation and can_inherit and previous is not None:
        return Grounding(previous.nodes, CONF_CONTEXT, "context", a.mentions)
    if a.by_finding is not None:
        return a.by_finding
    if can_inherit and previous is not None:
        return Grounding(previous.nodes, CONF_CONTEXT * 0.75, "context", a.mentions)
    return Grounding((OTHERS,), CONF_OTHERS, "others", a.mentions)

"""Resolvers that refine a mention to finer nodes: lung lobes and sides, rib numbers and sides, vertebra levels,
and the side words of sided organs ("left adrenal gland", "adrenal gland on the right")."""

from __future__ import annotations

import re

from radgenome.text.lexicon import Mention

__all__ = ["SIDE", "resolve_lung", "resolve_rib", "resolve_vertebra", "side_word", "sides_after", "sides_before"]


SIDE = re.compile(r"\b(right|left|both|either|bilateral(?:ly)?|bibasal|bibasilar)\b")
_SIDE_AFTER = re.compile(
    r"^\W{0,3}(?:\w+\W+){0,3}?(?:on|in|at) the (right|left)(?: side)?\b|^\W{0,3}(bilaterally|on both sides)\b",
)
_BOUNDARY_CHARS = re.compile(r"[;.]|\band\b(?= (?:no|the|there|a|an)\b)")


def side_word(word: str) -> tuple[str, ...]:
    w = word.lower()
    if w in ("right", "left"):
        return (w,)
    return ("left", "right")


def sides_before(text: str, start: int, window: int = 40) -> tuple[str, ...]:
    lo = max(0, start - window)
    chunk = text[lo:start]
    cut = [m.end() for m in _BOUNDARY_CHARS.finditer(chunk)]
    if cut:
        chunk = chunk[cut[-1] :]
    found = SIDE.findall(chunk)
    if not found:
        return ()
    sides: set[str] = set()
    # "right and left adrenal glands" -> both; otherwise the nearest side word
    tail = chunk.lower()
    if re.search(r"\b(right|left)\b\s*(?:and|,|-)\s*\b(right|left)\b", tail):
        return ("left", "right")
    sides.update(side_word(found[-1]))
    return tuple(sorted(sides))


def sides_after(text: str, end: int) -> tuple[str, ...]:
    m = _SIDE_AFTER.search(text[end : end + 40])
    if not m:
        return ()
    return side_word(m.group(1) or m.group(2) or "both")


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
# "On the left, at the level of the interlobar fissure, 2 nodules": a side phrase with no lung word (used only when
# the sentence names no side with a lung word)
_SIDE_PHRASE = re.compile(
    r"\b(?:on|in|at) the (right|left)(?: side)?\b(?!\s+(?:adrenal|kidney|renal|breast|thyroid|lobe of the liver|"
    r"hepatic|hemidiaphragm|diaphragm|atri|ventric|axill|hilum|hilar|clavic|scapul|humer|rib|\d))"
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
            sides = side_word(pm.group(1))
        else:
            om = _OF_SIDE_LUNG.search(text[m.end() : m.end() + 80])
            if om:
                sides = side_word(om.group(1))
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
        sides_found.update(side_word(word))
    if sides_found:
        return [f"{s} lung" for s in sorted(sides_found)]
    phrase = _phrase_side(text)
    if phrase:
        return [f"{phrase[0]} lung"]
    return ["lung"]


def _phrase_side(text: str) -> tuple[str, ...]:
    sides = {m.group(1) for m in _SIDE_PHRASE.finditer(text)}
    return tuple(sides) if len(sides) == 1 else ()


def _nearest_lung_side(text: str, pos: int) -> tuple[str, ...]:
    best: tuple[int, tuple[str, ...]] | None = None
    for m in _LUNG_SIDE.finditer(text):
        dist = pos - m.start() if m.start() < pos else (m.start() - pos) * 2
        side = side_word(m.group(1) or "both")
        if best is None or dist < best[0]:
            best = (dist, side)
    return best[1] if best else _phrase_side(text)


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
    sides = sides_before(text, mention.start, 45) or sides_after(text, mention.end)
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

"""Finding phrases of a sentence, with polarity, sizes and attributes.

A phrase is a head term from ``data/findings.toml`` plus the descriptive words before it ("subsegmental
atelectasis", "calcific atheroma plaques"). Coordinated adjectives distribute ("pleural or pericardial
effusion" -> two phrases) and hyphenated heads split ("pericardial effusion-thickening" -> "pericardial
effusion", "pericardial thickening"). Polarity comes from :func:`radgenome.text.negation.polarity_of`.
Each measurement goes to the nearest stated (present or uncertain) finding.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from radgenome.model import Finding, Measurement, Polarity
from radgenome.text.grounding import lower_same_length
from radgenome.text.measure import parse_measurements
from radgenome.text.negation import polarity_of

_TOKEN = re.compile(r"[a-z0-9][a-z0-9/'-]*|[^\sa-z0-9]")
# "thickening of the bronchial wall" -> "bronchial wall thickening"
_OF_TARGET = re.compile(r" of (?:the |both |bilateral )?((?:[a-z-]+ ){0,2}?(?:walls?|bronchi|bronchus|airways?|septa|"
                        r"interlobular septa|pleura|pericardium|aorta|esophagus|trachea))\b")
_NORMAL_WORDS = re.compile(r"\b(?:normal|natural|homogeneous|preserved|unremarkable|usual)\b")
_ABNORMAL_WORDS = re.compile(r"\b(?:increased?|decreased?|heterogeneous|loss|reduced|abnormal|lesions?|nodules?)\b")
_SHARED_PREFIX_GAP = re.compile(r",? (?:or|and|and/or) (?:increased |significant )?")
_ADJECTIVE = re.compile(r"^[a-z]{4,}(?:ous|ic|al|ive|ary|ar|ed)$")
_DEGREE = frozenset({"minimal", "mild", "slight", "moderate", "marked", "severe", "diffuse", "focal", "significant"})
_POST_MODIFIABLE = frozenset({"thickening", "thickenings", "thickness increase", "thickness increases", "calcification",
                              "calcifications", "dilatation", "dilation", "enlargement", "ectasia", "obstruction",
                              "occlusion", "narrowing"})
_MAX_MODIFIERS = 4
_PREDICATE_WORDS = frozenset({"is", "are", "was", "were", "be", "been", "not", "seems", "appears", "looks"})


@dataclass(frozen=True)
class _Vocab:
    heads: re.Pattern[str]
    stop: frozenset[str]
    drop_leading: frozenset[str]
    distributive: frozenset[str]
    not_findings: re.Pattern[str]
    attributes: re.Pattern[str]
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    generic_heads: frozenset[str]
    normal_predicate: re.Pattern[str]


@cache
def _vocab() -> _Vocab:
    raw = tomllib.loads(resources.files("radgenome.text").joinpath("data/findings.toml").read_text("utf-8"))
    heads = sorted(raw["heads"], key=len, reverse=True)
    return _Vocab(
        heads=re.compile(r"(?<![a-z0-9])(?:" + "|".join(heads) + r")(?![a-z0-9])"),
        stop=frozenset(raw["stop_words"]),
        drop_leading=frozenset(raw["drop_leading"]),
        distributive=frozenset(raw["distributive"]),
        not_findings=re.compile("|".join(raw["not_findings"])),
        attributes=re.compile(r"(?<![a-z0-9])(?:" + "|".join(raw["attributes"]) + r")(?![a-z0-9])"),
        patterns=tuple((re.compile(p["regex"]), p["phrase"]) for p in raw.get("pattern", [])),
        generic_heads=frozenset(raw["generic_heads"]),
        normal_predicate=re.compile(raw["normal_predicate"]),
    )


@dataclass(frozen=True, slots=True)
class PhraseSpan:
    phrase: str
    start: int
    end: int
    head_start: int


def _left_modifiers(low: str, head_start: int, vocab: _Vocab) -> tuple[list[tuple[str, int]], str, int]:
    """Words before a head that belong to the phrase, the stop token that ended them and its position."""
    tokens = list(_TOKEN.finditer(low, max(0, head_start - 80), head_start))
    mods: list[tuple[str, int]] = []
    stop_token, stop_pos = "", -1
    for tok in reversed(tokens):
        word = tok.group(0)
        if (
            len(mods) >= _MAX_MODIFIERS
            or not word[0].isalpha()
            or word in vocab.stop
            or word.endswith("-")
        ):
            stop_token, stop_pos = word, tok.start()
            break
        mods.append((word, tok.start()))
    mods.reverse()
    while mods and mods[0][0] in vocab.drop_leading:
        mods.pop(0)
    return mods, stop_token, stop_pos


def _distributed(low: str, mods: list[tuple[str, int]], stop_token: str, stop_pos: int, head: str,
                 vocab: _Vocab) -> tuple[list[str], bool]:
    """Extra phrases for coordinated adjectives before ``head``, and whether they replace the main phrase
    ("pericardial-pleural effusion" is only its two parts)."""
    first = mods[0][0] if mods else ""
    if "-" in first:
        parts = first.split("-")
        if all(p in vocab.distributive for p in parts):
            rest = " ".join(w for w, _ in mods[1:])
            return [" ".join(x for x in (p, rest, head) if x) for p in parts], True
    out: list[str] = []
    if stop_token in (",", "or", "and", "and/or") and stop_pos > 0:
        prev = list(_TOKEN.finditer(low, max(0, stop_pos - 40), stop_pos))
        if prev:
            word = prev[-1].group(0)
            if first in vocab.distributive and word in vocab.distributive:
                rest = " ".join(w for w, _ in mods[1:])
                out.append(" ".join(x for x in (word, rest, head) if x))
            elif (
                _ADJECTIVE.search(word)
                and word not in vocab.stop
                and word not in vocab.drop_leading
                and not (len(prev) > 1 and prev[-2].group(0) in _PREDICATE_WORDS)
            ):
                # "emphysematous and passive atelectatic changes" -> also "emphysematous changes" (but not the
                # predicate adjective of another clause: "the appearance is not typical, viral pneumonia ...")
                out.append(f"{word} {head.rsplit(' ', 1)[-1]}")
    return out, False


def phrase_spans(sentence: str) -> list[tuple[PhraseSpan, ...]]:
    """Finding phrases grouped per head match; coordinated variants share the head's span."""
    vocab = _vocab()
    low = lower_same_length(sentence)
    excluded = [(m.start(), m.end()) for m in vocab.not_findings.finditer(low)]
    groups: list[tuple[PhraseSpan, ...]] = []
    prev_prefixes: list[str] = []
    prev_start, prev_end = -1, -2
    for m in vocab.heads.finditer(low):
        if any(s <= m.start() < e for s, e in excluded):
            continue
        head = m.group(0)
        if head in vocab.generic_heads and _called_normal(low, m.start(), m.end(), vocab):
            continue
        if m.start() == prev_end + 1 and low[prev_end] == "-":
            # "pericardial effusion-thickening": the second head takes the first phrase's modifiers
            start = prev_start
            variants = [f"{p} {head}" if p else head for p in prev_prefixes]
        else:
            mods, stop_token, stop_pos = _left_modifiers(low, m.start(), vocab)
            start = mods[0][1] if mods else m.start()
            main = " ".join([w for w, _ in mods] + [head])
            if head in _POST_MODIFIABLE and all(w in _DEGREE for w, _ in mods):
                of = _OF_TARGET.match(low, m.end())
                if of:
                    target = of.group(1)
                    target = target[:-1] if target.endswith("walls") else target
                    main = " ".join([w for w, _ in mods] + [target, head])
            spread, replaces = _distributed(low, mods, stop_token, stop_pos, head, vocab)
            variants = spread if replaces else [main, *spread]
            if not mods and _SHARED_PREFIX_GAP.fullmatch(low, prev_end, m.start()):
                # "pleural effusion or thickening": the organ adjective is shared
                shared = [p for p in prev_prefixes if p and p.split(" ", 1)[0] in vocab.distributive]
                if shared:
                    variants = [f"{p} {head}" for p in shared]
        spans = tuple(PhraseSpan(_clean(v), start, m.end(), m.start()) for v in dict.fromkeys(variants))
        groups.append(spans)
        prev_prefixes = [s.phrase.rsplit(" ", 1)[0] if " " in s.phrase else "" for s in spans]
        prev_start, prev_end = start, m.end()
    for regex, phrase in vocab.patterns:
        for m in regex.finditer(low):
            groups.append((PhraseSpan(phrase, m.start(), m.end(), m.start()),))
    return groups


def _called_normal(low: str, head_start: int, head_end: int, vocab: _Vocab) -> bool:
    """A property head ("densities", "density") that its own clause calls normal ("... are normal", "has a
    normal size and homogeneous density")."""
    stop = len(low)
    for ch in ";.":
        i = low.find(ch, head_end)
        if i >= 0:
            stop = min(stop, i)
    if vocab.normal_predicate.search(low, head_end, stop) is not None:
        return True
    start = max(low.rfind(";", 0, head_start), low.rfind(".", 0, head_start)) + 1
    return _NORMAL_WORDS.search(low, start, head_start) is not None and _ABNORMAL_WORDS.search(
        low, start, stop) is None


def _clean(phrase: str) -> str:
    phrase = re.sub(r"\s+", " ", phrase).strip(" -,;:")
    return phrase


@dataclass(frozen=True, slots=True)
class SentenceFindings:
    findings: tuple[Finding, ...]
    measurements: tuple[Measurement, ...]
    attributes: tuple[str, ...]


@lru_cache(maxsize=200_000)
def extract_findings(sentence: str) -> SentenceFindings:
    """Findings of one sentence (cached; nodes are filled in by the engine)."""
    vocab = _vocab()
    low = lower_same_length(sentence)
    attributes = tuple(dict.fromkeys(m.group(0) for m in vocab.attributes.finditer(low)))
    measurements = parse_measurements(sentence)
    built: list[tuple[PhraseSpan, Polarity]] = []
    seen: set[str] = set()
    for group in phrase_spans(sentence):
        pol = polarity_of(sentence, group[0].head_start, group[0].end)
        for span in group:
            if span.phrase in seen:
                continue
            seen.add(span.phrase)
            built.append((span, pol))
    sizes: dict[int, list[Measurement]] = {}
    stated = [i for i, (_, pol) in enumerate(built) if pol != Polarity.ABSENT]
    for meas in measurements:
        if not stated:
            break
        best = min(stated, key=lambda i: _distance(built[i][0], meas))
        sizes.setdefault(best, []).append(meas)
    findings = tuple(
        Finding(phrase=span.phrase, polarity=pol, measurements=tuple(sizes.get(i, ())), attributes=attributes)
        for i, (span, pol) in enumerate(built)
    )
    return SentenceFindings(findings, measurements, attributes)


def _distance(span: PhraseSpan, meas: Measurement) -> int:
    if meas.end <= span.start:
        return span.start - meas.end
    if meas.start >= span.end:
        return (meas.start - span.end) + 1  # sizes usually precede or directly follow their finding
    return 0

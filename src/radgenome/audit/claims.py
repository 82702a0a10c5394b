"""Verdicts on single claims: "X is present at P", "X is absent at P", "P has no findings", "X measures S",
"the case has disorder D", "sentence T is about P".

Conservative by design: a contradiction needs the report to state the opposite *where the row puts it*; a
hedged or uncertain mention makes the claim ``not_checked``; when the report has no findings section (only an
impression), a claim the impression does not mention is ``not_checked``, not ``unsupported``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from radgenome.audit import engine, places
from radgenome.audit.engine import ReportSentence, ReportView, Size, StatedPhrase
from radgenome.audit.matching import Level, Mention, find_mentions
from radgenome.audit.model import Evidence, ItemVerdict, Polarity, Verdict
from radgenome.audit.vocab import rules_data

_SPACES = re.compile(r"\s+")


def evidence_of(sentences: Sequence[ReportSentence]) -> tuple[Evidence, ...]:
    seen: dict[int, Evidence] = {}
    for s in sentences:
        seen.setdefault(s.index, Evidence(s.section, s.index, s.text))
    return tuple(sorted(seen.values(), key=lambda e: e.index))


def _ev(mentions: Sequence[Mention]) -> tuple[Evidence, ...]:
    return evidence_of([m.sentence for m in mentions])


@dataclass
class VolumeContext:
    """One volume's report as the rules see it (mentions cached per phrase: RadGenome repeats a phrase at
    every ancestor path)."""

    view: ReportView
    _mentions: dict[str, list[Mention]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether the report has a findings section (else silence proves nothing)."""
        return self.view.has_findings

    def mentions(self, phrase: str) -> list[Mention]:
        key = phrase.strip().lower()
        found = self._mentions.get(key)
        if found is None:
            found = self._mentions[key] = find_mentions(self.view, phrase)
        return found

    def loose(self, phrase: str) -> list[Mention]:
        """Every ``exact`` and ``words`` mention (for conflicts a best-level lookup would not see)."""
        key = "\x00" + phrase.strip().lower()
        found = self._mentions.get(key)
        if found is None:
            found = self._mentions[key] = find_mentions(self.view, phrase, loose=True)
        return found

    def silent(self, item: str, what: str) -> ItemVerdict:
        return ItemVerdict(item, Verdict.UNSUPPORTED, what)


def _split(mentions: Sequence[Mention]) -> tuple[list[Mention], list[Mention], list[Mention]]:
    present = [m for m in mentions if m.polarity is Polarity.PRESENT]
    absent = [m for m in mentions if m.polarity is Polarity.ABSENT]
    uncertain = [m for m in mentions if m.polarity is Polarity.UNCERTAIN]
    return present, absent, uncertain


def _weak(m: Mention) -> bool:
    return m.sentence.grounded_by in ("context", "others")


_BOTH_SIDES = re.compile(r"\b(?:both|bilateral(?:ly)?|bilat)\b", re.IGNORECASE)


def _names_side(sentences: Sequence[ReportSentence], side: str | None) -> bool:
    """Whether any sentence's words name ``side`` (or both sides)."""
    if side is None:
        return True
    word = re.compile(rf"\b{side}\b", re.IGNORECASE)
    return any(word.search(s.text) or _BOTH_SIDES.search(s.text) for s in sentences)


def _names_other_region(phrase: str, path: str) -> bool:
    """The phrase itself names an organ of a region RadGenome's conventions never mix with the row's
    (``pericardial effusion`` filed under ``lung``)."""
    named = engine.named_regions(phrase)
    region = engine.region_of_path(path)
    data = rules_data()
    return bool(named) and not any(data.regions_overlap(region, r) for r in named)


def present_claim(ctx: VolumeContext, phrase: str, path: str) -> ItemVerdict:
    """The row says ``phrase`` is present at ``path``."""
    mentions = ctx.mentions(phrase)
    present, absent, uncertain = _split(mentions)
    here = [m for m in present if places.at_path(m.nodes, path, m.sentence.blocked)]
    if here:
        return ItemVerdict(phrase, Verdict.SUPPORTED, "stated_present", _ev(here))
    nearby = [m for m in present if places.compatible(m.nodes, path, m.sentence.blocked)]
    negated = [m for m in absent if places.covers(m.nodes, path, m.sentence.blocked)]
    if negated and not nearby and all(m.level is Level.HEAD for m in negated):
        # only the head word is negated ("no pathological lymph node" for "calcified lymph nodes")
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "head_word_stated_absent", _ev(negated))
    if negated and not nearby:
        # a negation where the row puts it, and no mention of it stated (or hedged) in that region and side -
        # looking at looser matches too ("effusion ... in the pericardial space" against "no pericardial
        # effusion")
        conflicting = [m for m in ctx.loose(phrase) if m.polarity is not Polarity.ABSENT
                       and places.compatible(m.nodes, path, m.sentence.blocked)]
        if conflicting:
            return ItemVerdict(phrase, Verdict.NOT_CHECKED, "report_conflicts", _ev(negated + conflicting))
        return ItemVerdict(phrase, Verdict.CONTRADICTED, "stated_absent", _ev(negated))
    hedged = [m for m in uncertain if places.compatible(m.nodes, path, m.sentence.blocked)]
    if hedged:
        return ItemVerdict(phrase, Verdict.NOT_CHECKED, "hedged", _ev(hedged))
    if present and nearby:
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "not_stated_at_path", _ev(nearby))
    if present:
        nodes = [n for m in present for n in m.nodes]
        sentence_nodes = [n for m in present for n in m.sentence.nodes]
        strong = ctx.complete and not any(_weak(m) for m in present)
        if strong and places.side_conflict(nodes, path) and not _names_side(
            [m.sentence for m in present], engine.path_side(path)
        ):
            return ItemVerdict(phrase, Verdict.CONTRADICTED, "other_side", _ev(present))
        if strong and not places.compatible(sentence_nodes, path) and _names_other_region(phrase, path):
            return ItemVerdict(phrase, Verdict.CONTRADICTED, "other_region", _ev(present))
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "not_stated_at_path", _ev(present))
    if uncertain:
        return ItemVerdict(phrase, Verdict.NOT_CHECKED, "hedged", _ev(uncertain))
    if absent:
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "stated_absent_elsewhere", _ev(absent))
    return ctx.silent(phrase, "not_in_report")


def absent_claim(ctx: VolumeContext, phrase: str, path: str) -> ItemVerdict:
    """The row says ``phrase`` is absent at ``path`` (a ``No.`` presence row)."""
    mentions = ctx.mentions(phrase)
    present, absent, uncertain = _split(mentions)
    stated = [m for m in present if places.at_path(m.nodes, path, m.sentence.blocked) and not _weak(m)]
    negated = [m for m in absent if places.compatible(m.nodes, path, m.sentence.blocked)]
    if stated and negated:
        if any(set(m.nodes) & set(n.nodes) for m in stated for n in negated):
            return ItemVerdict(phrase, Verdict.NOT_CHECKED, "report_conflicts", _ev(stated + negated))
        if any(places.covers(m.nodes, path, m.sentence.blocked) for m in negated):
            return ItemVerdict(phrase, Verdict.SUPPORTED, "stated_absent", _ev(negated))
    if stated and all(m.level is Level.HEAD for m in stated):
        # only the head word is stated ("small lymph nodes" against "no enlarged lymph nodes")
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "head_word_stated_present", _ev(stated))
    if stated:
        if any(engine.has_negation(m.sentence.text) for m in stated):
            return ItemVerdict(phrase, Verdict.NOT_CHECKED, "negation_in_sentence", _ev(stated))
        conflicting = [m for m in ctx.loose(phrase) if m.polarity is Polarity.ABSENT
                       and places.covers(m.nodes, path, m.sentence.blocked)]
        if conflicting:
            return ItemVerdict(phrase, Verdict.NOT_CHECKED, "report_conflicts", _ev(stated + conflicting))
        return ItemVerdict(phrase, Verdict.CONTRADICTED, "stated_present", _ev(stated))
    if negated:
        return ItemVerdict(phrase, Verdict.SUPPORTED, "stated_absent", _ev(negated))
    hedged = [m for m in uncertain if places.compatible(m.nodes, path, m.sentence.blocked)]
    if hedged:
        return ItemVerdict(phrase, Verdict.NOT_CHECKED, "hedged", _ev(hedged))
    if absent:
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "stated_absent_elsewhere", _ev(absent))
    if present or uncertain:
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "stated_elsewhere", _ev(present + uncertain))
    return ctx.silent(phrase, "not_in_report")


def no_findings_claim(ctx: VolumeContext, path: str) -> ItemVerdict:
    """The row says ``path`` has sentences but no abnormality (``no findings``)."""
    statement = ctx.view.paths.get(path)
    item = "no findings"
    if statement is not None:
        sentences = ctx.view.sentences

        def firm(phrases: Sequence[StatedPhrase]) -> list[StatedPhrase]:
            return [p for p in phrases if p.sentence >= 0 and sentences[p.sentence].grounded_by == "anatomy"]

        present = firm(statement.present)
        if present:
            ev = evidence_of([sentences[p.sentence] for p in present])
            phrases = ", ".join(dict.fromkeys(p.phrase for p in present))
            return ItemVerdict(item, Verdict.CONTRADICTED, f"abnormality_stated: {phrases}", ev)
        if statement.uncertain or statement.present:
            ev = evidence_of([sentences[p.sentence] for p in (*statement.uncertain, *statement.present)
                              if p.sentence >= 0])
            return ItemVerdict(item, Verdict.NOT_CHECKED, "hedged", ev)
        if statement.has_sentences:
            ev = evidence_of([sentences[p.sentence] for p in statement.absent if p.sentence >= 0])
            return ItemVerdict(item, Verdict.SUPPORTED, "no_abnormality_stated", ev)
    return ctx.silent(item, "path_not_in_report")


def disorder_claim(ctx: VolumeContext, phrase: str) -> ItemVerdict:
    """The row says the case has ``phrase`` (``case_disorders``: no place to check)."""
    present, absent, uncertain = _split(ctx.mentions(phrase))
    if present:
        return ItemVerdict(phrase, Verdict.SUPPORTED, "stated_present", _ev(present))
    if uncertain:
        return ItemVerdict(phrase, Verdict.NOT_CHECKED, "hedged", _ev(uncertain))
    if absent and all(m.level is not Level.HEAD for m in absent):
        return ItemVerdict(phrase, Verdict.CONTRADICTED, "stated_absent", _ev(absent))
    if absent:
        # only the head word is negated ("no lymphadenopathy in the axillae" for "mediastinal
        # lymphadenopathy"): with no place to compare, that proves nothing
        return ItemVerdict(phrase, Verdict.UNSUPPORTED, "head_word_stated_absent", _ev(absent))
    return ctx.silent(phrase, "not_in_report")


# ------------------------------------------------------------------------------------------------ sizes
@dataclass(frozen=True, slots=True)
class SizeVerdict:
    verdict: ItemVerdict
    fix: Size | None = None
    """The report's size that should replace the released one (a contradicted row with one clear answer)."""


def _dims(size: Size) -> tuple[float, ...]:
    return tuple(sorted(size.values_mm))


def same_size(a: Sequence[Size], b: Size) -> bool:
    tol = rules_data().size_tolerance_mm
    want = sorted(v for s in a for v in s.values_mm)
    got = list(_dims(b))
    if len(want) == len(got) and all(abs(x - y) <= tol for x, y in zip(want, got, strict=True)):
        return True
    # RadGenome sometimes keeps one dimension of "10x8 mm": its largest one
    return len(want) == 1 and abs(want[0] - b.largest_mm) <= tol and len(got) > 1


def _same_numbers(a: Sequence[Size], b: Size) -> bool:
    """The same numbers as written, in another unit (``2 mm`` for ``2 cm``)."""
    factor = {"mm": 1.0, "cm": 10.0}
    want = sorted(round(v / factor.get(s.unit, 1.0), 3) for s in a for v in s.values_mm)
    got = sorted(round(v / factor.get(b.unit, 1.0), 3) for v in b.values_mm)
    return want == got and {s.unit for s in a} != {b.unit}


def size_claim(ctx: VolumeContext, phrase: str, size_text: str, path: str) -> SizeVerdict:
    """The row says ``phrase`` at ``path`` measures ``size_text``."""
    item = f"{phrase}: {size_text}"
    released = engine.parse_sizes(size_text)
    if not released:
        return SizeVerdict(ItemVerdict(item, Verdict.CONTRADICTED, "size_not_a_length"))
    mentions = [m for m in ctx.mentions(phrase) if m.polarity is not Polarity.ABSENT]
    near = [m for m in mentions if places.compatible(m.nodes, path, m.sentence.blocked)] or mentions
    sentences = list(dict.fromkeys(m.sentence for m in near))
    for s in sentences:
        if any(same_size(released, size) for size in s.sizes):
            return SizeVerdict(ItemVerdict(item, Verdict.SUPPORTED, "size_stated", evidence_of([s])))
    for s in sentences:
        for size in s.sizes:
            if _same_numbers(released, size):
                return SizeVerdict(ItemVerdict(item, Verdict.CONTRADICTED, "size_unit", evidence_of([s])), size)
    elsewhere = [s for s in ctx.view.sentences if any(same_size(released, size) for size in s.sizes)]
    if elsewhere:
        regional = [s for s in elsewhere if places.compatible(s.nodes, path, s.blocked)]
        if not sentences and regional:
            return SizeVerdict(ItemVerdict(item, Verdict.SUPPORTED, "size_stated_in_region", evidence_of(regional)))
        return SizeVerdict(ItemVerdict(item, Verdict.UNSUPPORTED, "size_of_another_sentence", evidence_of(elsewhere)))
    sizes = list(dict.fromkeys(size for s in sentences for size in s.sizes))
    if sizes:
        fix = sizes[0] if len(sizes) == 1 else None
        return SizeVerdict(ItemVerdict(item, Verdict.CONTRADICTED, "other_size", evidence_of(sentences)), fix)
    if mentions:
        return SizeVerdict(ItemVerdict(item, Verdict.UNSUPPORTED, "size_not_in_report", evidence_of(sentences)))
    return SizeVerdict(ctx.silent(item, "not_in_report"))


# ------------------------------------------------------------------------------------------------ sentences
def normalise_sentence(text: str) -> str:
    return _SPACES.sub(" ", text.strip().lower()).rstrip(" .")


def _report_sentences_of(ctx: VolumeContext, text: str) -> list[ReportSentence]:
    want = normalise_sentence(text)
    if not want:
        return []
    exact = [s for s in ctx.view.sentences if normalise_sentence(s.text) == want]
    if exact:
        return exact
    return [
        s for s in ctx.view.sentences
        if (n := normalise_sentence(s.text)) and (want in n or n in want) and min(len(n), len(want)) >= 12
    ]


def sentence_claim(ctx: VolumeContext, text: str, path: str) -> ItemVerdict:
    """The row says report sentence ``text`` is about ``path`` (``region_report``)."""
    item = text.strip()
    found = _report_sentences_of(ctx, text)
    if not found:
        return ctx.silent(item, "sentence_not_in_report")
    nodes = [n for s in found for n in s.nodes]
    if any(places.at_path(s.nodes, path, s.blocked) for s in found):
        return ItemVerdict(item, Verdict.SUPPORTED, "grounded_here", evidence_of(found))
    if all(s.grounded_by in ("context", "others") for s in found):
        return ItemVerdict(item, Verdict.NOT_CHECKED, "weak_grounding", evidence_of(found))
    if places.side_conflict(nodes, path) and not any(s.grounded_by in ("context", "others") for s in found):
        return ItemVerdict(item, Verdict.CONTRADICTED, "other_side", evidence_of(found))
    if any(places.compatible(s.nodes, path, s.blocked) for s in found):
        return ItemVerdict(item, Verdict.UNSUPPORTED, "not_grounded_at_path", evidence_of(found))
    return ItemVerdict(item, Verdict.UNSUPPORTED, "region_not_grounded", evidence_of(found))


def whole_text_claim(ctx: VolumeContext, text: str) -> ItemVerdict:
    """The empty-``Anatomy`` row of ``region_report``: the whole findings text."""
    want = normalise_sentence(text)
    for section in (ctx.view.findings, ctx.view.impressions):
        if section.strip() and normalise_sentence(section) == want:
            return ItemVerdict("whole findings text", Verdict.SUPPORTED, "whole_text")
    return ctx.silent("whole findings text", "text_differs")

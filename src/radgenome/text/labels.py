"""CT-RATE's 18 abnormality labels from report text, by rules.

:func:`extract_labels` splits findings and impressions into sentences, finds each label's mentions with the
patterns of ``data/labels.json`` and keeps a label when one of its mentions is asserted: :func:`polarity_of`
says PRESENT (or UNCERTAIN, when the data file's ``count_uncertain`` is true; it is false: on CT-CLIP's manual
labels counting hedged mentions ("suspicious for", "?") is slightly worse). Mentions a sentence asserts with
"compatible with" / "in favor of" are PRESENT (see :mod:`radgenome.text.negation`).

Per label the data file gives a list of rules: ``patterns`` (mentions), ``exclude`` (a mention overlapping one
of these is dropped, e.g. ``subcutaneous emphysema``), ``sentence_require`` (the sentence must name e.g. the
pleura for a bare "effusion") and ``sentence_exclude`` / ``unless`` (a sentence that names another organ,
e.g. ``thyroid`` for nodules, only counts if it also names the label's own organ). The rules follow how
CT-CLIP's annotators labelled (measured on the manual labels): any thoracic lymph node that is present counts
as Lymphadenopathy, ground-glass nodules are Lung nodule not Lung opacity, "infiltration" alone is not Lung
opacity, coronary-only and abdominal-aorta atheroma is not Arterial wall calcification.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from radgenome.model import Polarity
from radgenome.text.negation import polarity_of
from radgenome.text.sentences import split_sentences

__all__ = ["LABELS", "extract_labels", "label_mentions", "sentence_labels"]

LABELS: tuple[str, ...] = (
    "Medical material",
    "Arterial wall calcification",
    "Cardiomegaly",
    "Pericardial effusion",
    "Coronary artery wall calcification",
    "Hiatal hernia",
    "Lymphadenopathy",
    "Emphysema",
    "Atelectasis",
    "Lung nodule",
    "Lung opacity",
    "Pulmonary fibrotic sequela",
    "Pleural effusion",
    "Mosaic attenuation pattern",
    "Peribronchial thickening",
    "Consolidation",
    "Bronchiectasis",
    "Interlobular septal thickening",
)


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    pattern: re.Pattern[str]
    exclude: re.Pattern[str] | None
    sentence_require: re.Pattern[str] | None
    sentence_exclude: re.Pattern[str] | None
    unless: re.Pattern[str] | None
    accepted: frozenset[Polarity]


def _alt(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    alternation = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(f"(?<![A-Za-z])(?:{alternation})(?![A-Za-z])", re.IGNORECASE)


def _accepted(count_uncertain: bool) -> frozenset[Polarity]:
    return frozenset({Polarity.PRESENT, Polarity.UNCERTAIN} if count_uncertain else {Polarity.PRESENT})


@dataclass(frozen=True, slots=True)
class _Engine:
    rules: tuple[_Rule, ...]
    triggers: tuple[tuple[str, str], ...]
    """``(substring, label)`` pairs: a sentence containing the lower-case substring is tried on the label."""
    by_label: dict[str, tuple[_Rule, ...]]


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    data = json.loads(resources.files("radgenome.text").joinpath("data/labels.json").read_text("utf-8"))
    spec = data["labels"]
    mismatch = (set(LABELS) ^ set(spec)) | (set(LABELS) ^ set(data["triggers"]))
    if mismatch:
        raise ValueError(f"labels.json does not match LABELS: {sorted(mismatch)}")
    default_uncertain = bool(data.get("count_uncertain", False))
    rules = []
    for label in LABELS:
        for r in spec[label]:
            pattern = _alt(r["patterns"])
            if pattern is None:
                raise ValueError(f"labels.json: a rule of {label!r} has no patterns")
            rules.append(
                _Rule(label, pattern, _alt(r.get("exclude", [])), _alt(r.get("sentence_require", [])),
                      _alt(r.get("sentence_exclude", [])), _alt(r.get("unless", [])),
                      _accepted(bool(r.get("count_uncertain", default_uncertain))))
            )
    triggers = tuple((t.lower(), label) for label in LABELS for t in data["triggers"][label])
    by_label = {label: tuple(r for r in rules if r.label == label) for label in LABELS}
    return _Engine(tuple(rules), triggers, by_label)


def _rules() -> tuple[_Rule, ...]:
    return _engine().rules


def _rule_mentions(rule: _Rule, sentence: str) -> list[tuple[int, int]]:
    if rule.sentence_require is not None and not rule.sentence_require.search(sentence):
        return []
    if (
        rule.sentence_exclude is not None
        and rule.sentence_exclude.search(sentence)
        and not (rule.unless is not None and rule.unless.search(sentence))
    ):
        return []
    found = [(m.start(), m.end()) for m in rule.pattern.finditer(sentence)]
    if found and rule.exclude is not None:
        bad = [(m.start(), m.end()) for m in rule.exclude.finditer(sentence)]
        found = [(a, b) for a, b in found if not any(a < y and x < b for x, y in bad)]
    return found


def _candidate_rules(sentence: str) -> list[_Rule]:
    engine = _engine()
    low = sentence.lower()
    labels = {label for trigger, label in engine.triggers if trigger in low}
    return [rule for label in LABELS if label in labels for rule in engine.by_label[label]]


def label_mentions(sentence: str) -> list[tuple[str, int, int, Polarity]]:
    """Every label mention of one sentence as ``(label, start, end, polarity)``."""
    return [
        (rule.label, a, b, polarity_of(sentence, a, b))
        for rule in _candidate_rules(sentence)
        for a, b in _rule_mentions(rule, sentence)
    ]


@lru_cache(maxsize=1 << 16)
def sentence_labels(sentence: str) -> frozenset[str]:
    """The labels one sentence asserts (cached: CT-RATE's formulaic sentences repeat across reports)."""
    found: set[str] = set()
    for rule in _candidate_rules(sentence):
        if rule.label in found:
            continue
        for a, b in _rule_mentions(rule, sentence):
            if polarity_of(sentence, a, b) in rule.accepted:
                found.add(rule.label)
                break
    return frozenset(found)


def extract_labels(findings: str, impressions: str = "") -> dict[str, int]:
    """CT-RATE's 18 labels (0/1, in :data:`LABELS` order) for one report."""
    found: set[str] = set()
    for text in (findings, impressions):
        if text:
            for span in split_sentences(text):
                found |= sentence_labels(span.text)
    return {label: int(label in found) for label in LABELS}

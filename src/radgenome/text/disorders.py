"""Case-level disorders: the impression's stated findings, normalised to diagnosis names (data file)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from functools import cache, lru_cache
from importlib import resources

from radgenome.model import Polarity, Section, Sentence


@cache
def _rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    raw = tomllib.loads(resources.files("radgenome.text").joinpath("data/disorders.toml").read_text("utf-8"))
    return tuple((re.compile(d["match"]), d["name"]) for d in raw["disorder"])


@lru_cache(maxsize=100_000)
def normalise_disorder(phrase: str) -> str:
    for pattern, name in _rules():
        if pattern.search(phrase):
            return name
    return phrase


def case_disorders(sentences: Iterable[Sentence]) -> list[str]:
    """Diagnoses the report asserts: impression-led, findings as fallback when the impression states none."""
    by_section: dict[Section, list[str]] = {Section.IMPRESSIONS: [], Section.FINDINGS: []}
    for sent in sentences:
        if sent.section not in by_section:
            continue
        for finding in sent.findings:
            if finding.polarity == Polarity.ABSENT:
                continue
            by_section[sent.section].append(normalise_disorder(finding.phrase))
    chosen = by_section[Section.IMPRESSIONS] or by_section[Section.FINDINGS]
    return list(dict.fromkeys(chosen))

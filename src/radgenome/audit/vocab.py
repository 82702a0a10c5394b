"""The audit's rule data (``data/rules.toml``), loaded once."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class RulesData:
    stop_words: frozenset[str]
    generic_heads: frozenset[str]
    head_stops: frozenset[str]
    overlapping: frozenset[frozenset[str]]
    size_tolerance_mm: float
    distrusted_negation: re.Pattern[str]
    hedges: re.Pattern[str]
    word_forms: dict[str, str]
    organ_tissue: dict[str, str]
    needs_word: tuple[tuple[str, str, re.Pattern[str], re.Pattern[str]], ...]
    lung_words: frozenset[str]
    landmark_regions: frozenset[str]

    def regions_overlap(self, a: str, b: str) -> bool:
        return a == b or "others" in (a, b) or frozenset((a, b)) in self.overlapping


@cache
def rules_data() -> RulesData:
    raw = tomllib.loads(resources.files("radgenome.audit").joinpath("data/rules.toml").read_text("utf-8"))
    return RulesData(
        stop_words=frozenset(raw["matching"]["stop_words"]),
        generic_heads=frozenset(raw["matching"]["generic_heads"]),
        head_stops=frozenset(raw["matching"]["head_stops"]),
        overlapping=frozenset(frozenset(pair) for pair in raw["regions"]["overlapping"]),
        size_tolerance_mm=float(raw["sizes"]["tolerance_mm"]),
        word_forms=dict(raw["matching"].get("word_forms", {})),
        organ_tissue=dict(raw["regions"].get("organ_tissue", {})),
        lung_words=frozenset(raw["regions"]["lung_findings"]["words"]),
        landmark_regions=frozenset(raw["regions"]["lung_findings"]["landmark_regions"]),
        needs_word=tuple(
            (e["node"], e["region"], re.compile(e["mentioned"]), re.compile(e["words"]))
            for e in raw["regions"].get("needs_word", [])
        ),
        hedges=re.compile("|".join(raw["polarity"]["hedges"])),
        distrusted_negation=re.compile("|".join(raw["polarity"]["distrusted_negation"])),
    )

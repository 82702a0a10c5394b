"""Is a finding phrase the model wrote supported by the words of the sentence?

The prompt asks for phrases made of the sentence's own words ("as short as possible, without location words").
A phrase word counts as supported when the sentence has the same word, or a word of the same stem: they share
a prefix of at least four letters that leaves at most three more letters on the shorter word and five on the
longer one (nodule ~ nodules ~ nodular, opacity ~ opacities, calcification ~ calcific, emphysema ~
emphysematous, dilatation ~ dilated), but not bronchiectasis ~ bronchial, cardiomegaly ~ cardiac or pneumonia ~
pneumothorax. Function words (of, the, and, ...) are not checked. Anything else is a word the model brought
in: the phrase is unsupported (:data:`~radgenome.text.llm.flags.FLAG_UNSUPPORTED_PHRASE`).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["FUNCTION_WORDS", "unsupported_words"]

_WORD = re.compile(r"[a-z0-9]+")
FUNCTION_WORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to", "with",
     "without", "no", "not"}
)
MIN_STEM = 4
MAX_REST_SHORT = 3
MAX_REST_LONG = 5


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _same_stem(a: str, b: str) -> bool:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    short, long_ = sorted((len(a), len(b)))
    return n >= MIN_STEM and short - n <= MAX_REST_SHORT and long_ - n <= MAX_REST_LONG


@lru_cache(maxsize=65536)
def unsupported_words(phrase: str, text: str) -> tuple[str, ...]:
    """The words of ``phrase`` that ``text`` does not support (empty when the phrase is supported)."""
    have = _words(text)
    missing: list[str] = []
    for w in _WORD.findall(phrase.lower()):
        if w in FUNCTION_WORDS or w in have:
            continue
        if len(w) >= MIN_STEM and any(_same_stem(w, t) for t in have):
            continue
        missing.append(w)
    return tuple(dict.fromkeys(missing))

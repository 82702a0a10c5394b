"""Grounding conventions that depend on how mentions relate, not on words alone
(``../shared/reference/grounding_conventions.md``; the lexicon decides what each word points at).

:func:`apply_conventions` rewrites a sentence's mentions before they are resolved to nodes:

- **Lymph node stations.** In a sentence about lymph nodes the hilum is a mediastinal station ("no lymph nodes at
  both hilar levels" -> mediastinum), and a mediastinal landmark locates a mediastinal node ("lymph node at the
  level of the carina" -> mediastinum, not the airways).
- **Landmarks** (rule 1). A structure named only to locate a finding elsewhere ("adjacent to the mediastinum",
  "close to the heart", "at the level of the carina", "the mediastinal pleura") adds no region when the sentence
  names another one. A landmark followed by a finding of its own ("adjacent to the pleural effusion") is a
  statement about it and stays.
- **Pleural findings at a lung site** (rule 1). "Pleural thickening at the left lung base", "pleural effusion in
  the left lung", "effusion in the right hemithorax": when the sentence states pleural findings and no lung
  finding, and its lung words only say where (after *in, at, of, to ...*), the lung is a landmark -> pleura only.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from radgenome.anatomy import load_hierarchy
from radgenome.text.lexicon import Entry, Mention

__all__ = ["apply_conventions"]

_MEDIASTINAL_NODE = Entry("anatomy", ("mediastinal tissue",))

# "adjacent to the", "close to", "in close proximity to the", "near the right" ... just before a mention
_LANDMARK_BEFORE = re.compile(
    r"(?:\b(?:adjacent|close|next|contiguous) to|\bin (?:close )?proximity to|\bin the (?:\w+ )?neighbou?rhood of|"
    r"\bnear(?:by)?|\bneighbou?ring)"
    r"\s+(?:the\s+)?(?:(?:right|left|both|bilateral)\s+)?$"
)
# "lymph node at the level of the carina": a station named by its level (only lymph nodes are located this way;
# "plaques at the level of the aortic root", "lesion at the level of the liver dome" name the site itself)
_AT_LEVEL = re.compile(r"\bat the level(?:\s+of)?\s+(?:the\s+)?(?:(?:right|left|both|bilateral)\s+)?$")
# a landmark word that is itself the subject of a finding ("adjacent to the pleural effusion")
_OWN_FINDING_AFTER = re.compile(
    r"\s*(?:effusions?|thicken\w*|plaques?|calcifications?|mass(?:es)?|lesions?|nodules?|fluid|collections?)\b"
)
# "the mediastinal pleura", "costal pleura": an adjective that says which part of the pleura
_PART_OF_PLEURA = re.compile(r"\s*pleura\b")

_LOCATIVE_BEFORE = re.compile(
    r"\b(?:in|at|on|of|to|into|within|between|along|throughout|from|involving)\s+"
    r"(?:(?:the|both|bilateral|right|left|upper|middle|lower|lobes?|segments?|and|or|lung|lungs|apical|"
    r"apicoposterior|anterior|posterior|lateral|medial|superior|inferior|lingular|\w*basal|pleura|pleural|"
    r"structures?|leaves|costal|parts?|zones?|areas?)[\s,-]+)*$"
)
_LUNG_SITE_WORD = re.compile(
    r"(?:lung\w*|pulmonar\w*|(?:upper|middle|lower|inferior|superior) lob(?:e|es)|lob(?:e|es|ar)|lingul\w*|"
    r"parenchym\w*|segment\w*|apex|apical|apices|basal|bases|hemithora\w*|fissures?)"
)
# lesions that are not pleural ("metastatic lesions in both lungs") keep the lung as their site
_OTHER_LESION = re.compile(
    r"(?<!pleural )(?<!pleural-)(?<!extrapleural )\b(?:lesions?|mass(?:es)?|nodul\w*|metasta\w*|tumou?rs?|cysts?|"
    r"cavit\w*|foreign bod\w*|air\b)"
)
_LOOKBACK = 70


def _is_lymph(m: Mention) -> bool:
    return m.entry.handler == "lymph"


@lru_cache(maxsize=1024)
def _regions(entry: Entry) -> frozenset[str]:
    h = load_hierarchy()
    out: set[str] = set()
    for n in entry.nodes:
        out.update(h.top_regions(n) if n in h else (n,))
    if entry.handler in ("lung", "hilar"):
        out.add("lung")
    return frozenset(out)


def _landmark(low: str, m: Mention, lymph: bool) -> bool:
    before = low[max(0, m.start - _LOOKBACK) : m.start]
    if not _LANDMARK_BEFORE.search(before) and not (lymph and _AT_LEVEL.search(before)):
        return False
    return _OWN_FINDING_AFTER.match(low, m.end) is None


def _names_region(m: Mention) -> bool:
    """An explicit anatomical mention of one of the ten regions (weak words and implied findings do not count:
    "a nodular formation in the neighbourhood of the spleen" is about the spleen)."""
    return m.entry.kind == "anatomy" and m.entry.nodes != ("others",)


def _pleura_part(low: str, m: Mention) -> bool:
    """"mediastinal pleura", "costal pleura": the mention names which part of the pleura."""
    return "pleura" not in _regions(m.entry) and _PART_OF_PLEURA.match(low, m.end) is not None


def apply_conventions(low: str, mentions: list[Mention]) -> list[Mention]:
    """The mentions that count for grounding, rewritten where a convention says so (see the module doc)."""
    if not mentions:
        return mentions
    lymph = any(_is_lymph(m) for m in mentions)
    out: list[Mention] = []
    for m in mentions:
        if lymph and m.entry.handler == "hilar":
            m = replace(m, entry=_MEDIASTINAL_NODE)
        out.append(m)
    out = _drop_landmarks(low, out, lymph)
    return _pleural_site(low, out)


_LANDMARK_WORDS = re.compile(r"adjacent|close|next|near|neighbo|contiguous|proximity|pleura|\bat the level")


def _drop_landmarks(low: str, mentions: list[Mention], lymph: bool) -> list[Mention]:
    if _LANDMARK_WORDS.search(low) is None:
        return mentions  # the common case: no word that could make a landmark
    marks = [
        m for m in mentions
        if m.entry.kind in ("anatomy", "weak") and (_landmark(low, m, lymph) or _pleura_part(low, m))
    ]
    if not marks:
        return mentions
    if lymph:
        # a node located by a mediastinal or airway landmark is a mediastinal node ("at the level of the carina")
        station = {"mediastinum", "trachea and bronchie", "heart"}
        out = []
        for m in mentions:
            if m in marks and _AT_LEVEL.search(low[max(0, m.start - _LOOKBACK) : m.start]):
                out.append(replace(m, entry=_MEDIASTINAL_NODE) if _regions(m.entry) <= station else m)
            else:
                out.append(m)
        return out
    kept = [m for m in mentions if m not in marks]
    if not any(_names_region(m) for m in kept):
        return mentions  # the landmark is the only place the sentence names: it is the site
    landmark_regions = frozenset().union(*(_regions(m.entry) for m in marks))
    other_regions = frozenset().union(*(_regions(m.entry) for m in kept if _names_region(m)))
    if landmark_regions <= other_regions:
        return mentions  # "plaques at the level of the aortic arch": the landmark is the finding's own site
    return kept


def _pleural_site(low: str, mentions: list[Mention]) -> list[Mention]:
    pleural = [m for m in mentions if "pleura" in _regions(m.entry) and m.entry.kind in ("anatomy", "finding")]
    if not pleural:
        return mentions
    lung = [m for m in mentions if m.entry.handler == "lung"]
    if not lung or _OTHER_LESION.search(low):
        return mentions
    for m in lung:
        if m.entry.kind == "finding":
            return mentions  # a lung finding ("atelectasis", "nodule") is stated
        if not _LUNG_SITE_WORD.fullmatch(low, m.start, m.end):
            return mentions  # "interstitial", "alveolar": a lung word that is a finding itself
        if not _LOCATIVE_BEFORE.search(low[max(0, m.start - _LOOKBACK) : m.start]):
            return mentions  # "both lungs are clear": the lung is a subject, not a site
    return [m for m in mentions if m not in lung]

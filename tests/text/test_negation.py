"""Polarity of finding mentions (our own CT-RATE-style sentences)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radgenome.model import Polarity
from radgenome.text.negation import clause_polarities, negated_spans, polarity_of, uncertain_spans

A, P, U = Polarity.ABSENT, Polarity.PRESENT, Polarity.UNCERTAIN


def pol(sentence: str, mention: str, occurrence: int = 0) -> Polarity:
    i = -1
    for _ in range(occurrence + 1):
        i = sentence.lower().index(mention.lower(), i + 1)
    return polarity_of(sentence, i, i + len(mention))


CASES: list[tuple[str, str, int, Polarity]] = [
    # post-negation, CT-RATE's hyphenated pairs
    ("Pleural effusion-thickening was not detected.", "Pleural effusion", 0, A),
    ("Pleural effusion-thickening was not detected.", "thickening", 0, A),
    ("Pleural effusion and atelectasis were not seen.", "Pleural effusion", 0, A),
    ("Atelectasis could not be detected in either lung.", "Atelectasis", 0, A),
    ("Consolidation is not present.", "Consolidation", 0, A),
    ("A cavitary lesion was not identified in the right lung.", "cavitary lesion", 0, A),
    ("Calcified plaques absent.", "Calcified plaques", 0, A),
    ("The previously reported nodule has disappeared.", "nodule", 0, A),
    # pre-negation with long scopes
    ("No enlarged lymph nodes in paratracheal, subcarinal or hilar regions were found.", "lymph nodes", 0, A),
    ("No solid lesion-active infiltration with sharp borders was found in the lungs.", "infiltration", 0, A),
    ("There is no pneumothorax.", "pneumothorax", 0, A),
    ("Lungs are clear without nodules or masses.", "masses", 0, A),
    ("Neither effusion nor pneumothorax is seen.", "pneumothorax", 0, A),
    ("No evidence of pulmonary embolism.", "pulmonary embolism", 0, A),
    ("The patient is free of recurrent mass.", "mass", 0, A),
    ("The study is negative for pneumonia.", "pneumonia", 0, A),
    # clause breaks: the negation does not leak back or forward
    ("Tracheal calibration is normal and no wall thickening was found.", "calibration", 0, P),
    ("Tracheal calibration is normal and no wall thickening was found.", "wall thickening", 0, A),
    ("Nodules are seen in the left lung and effusion was not observed.", "Nodules", 0, P),
    ("Nodules are seen in the left lung and effusion was not observed.", "effusion", 0, A),
    ("No effusion is seen on the right, but there is a small effusion on the left.", "effusion", 1, P),
    ("No effusion is seen on the right; small effusion on the left.", "effusion", 1, P),
    ("No effusion was seen on the right, there is a small effusion on the left.", "effusion", 1, P),
    ("Atelectasis without pleural effusion.", "Atelectasis", 0, P),
    ("Atelectasis without pleural effusion.", "pleural effusion", 0, A),
    ("A 9 mm lymph node that does not reach pathological size is seen.", "lymph node", 0, P),
    ("A 9 mm lymph node that does not reach pathological size is seen.", "pathological size", 0, A),
    ("Nodules, which were reported before, are not observed in this study.", "Nodules", 0, A),
    ("No wall thickening in the esophagus, and there is a sliding hernia.", "sliding hernia", 0, P),
    ("There were no pathologically sized and configured lymph nodes.", "lymph nodes", 0, A),
    ("The consolidation seen before has completely regressed.", "consolidation", 0, A),
    ("The central venous catheter was removed.", "catheter", 0, A),
    # pseudo-negations
    ("There is no significant change in the size of the right upper lobe nodule.", "nodule", 0, P),
    ("No interval change in the emphysematous areas.", "emphysematous areas", 0, P),
    ("Not only ground glass but also consolidation is seen.", "consolidation", 0, P),
    # uncertainty
    ("Findings suspicious for lymphangitic spread.", "lymphangitic spread", 0, U),
    ("Possible early pneumonia in the lower lobe.", "pneumonia", 0, U),
    ("Malignancy cannot be excluded.", "Malignancy", 0, U),
    ("Infection could not be ruled out.", "Infection", 0, U),
    ("Soft tissue thickening at the hilum (lymph node?).", "lymph node", 0, U),
    ("Soft tissue thickening at the hilum (lymph node?).", "Soft tissue thickening", 0, P),
    ("Bronchiectasis may be present.", "Bronchiectasis", 0, U),
    # assertions
    ("Findings compatible with pneumonia.", "pneumonia", 0, P),
    ("Appearance consistent with emphysema.", "emphysema", 0, P),
    ("Ground glass opacities are observed in both lungs.", "Ground glass opacities", 0, P),
    ("Minimal pleural effusion is noted.", "pleural effusion", 0, P),
]


@pytest.mark.parametrize(("sentence", "mention", "occ", "expected"), CASES)
def test_polarity_cases(sentence: str, mention: str, occ: int, expected: Polarity) -> None:
    assert pol(sentence, mention, occ) is expected


def test_span_helpers_agree() -> None:
    s = "Cardiomegaly is present and no pleural effusion is seen, possible pneumonia."
    neg = negated_spans(s)
    unc = uncertain_spans(s)
    assert neg and unc
    i = s.index("pleural effusion")
    assert any(lo <= i < hi for lo, hi in neg)
    assert all(lo <= hi for lo, hi, _ in clause_polarities(s))
    assert pol(s, "Cardiomegaly") is P


FINDINGS = st.sampled_from(
    ["pleural effusion", "pneumothorax", "consolidation", "a nodule", "cardiomegaly", "atelectasis",
     "ground glass opacity", "lymphadenopathy", "hiatal hernia", "bronchiectasis", "emphysema", "a mass"]
)
VERBS = st.sampled_from(["was detected", "was observed", "is seen", "was found", "is noted"])
TAILS = st.sampled_from(
    ["the heart is enlarged", "there is a nodule in the left lung", "aorta is calcified", "no effusion",
     "consolidation cannot be excluded", "hernia was not observed"]
)


@given(FINDINGS, VERBS)
def test_no_x_was_verb_is_absent(finding: str, verb: str) -> None:
    s = f"No {finding} {verb}."
    assert pol(s, finding) is A


@given(FINDINGS, st.sampled_from(["was not observed", "were not detected", "is not seen", "is not present"]))
def test_x_post_negation_is_absent(finding: str, cue: str) -> None:
    s = f"{finding.capitalize()} {cue} in the thorax."
    assert pol(s, finding) is A


@given(FINDINGS, VERBS, TAILS, st.sampled_from([P, A]))
def test_appending_a_clause_after_semicolon_keeps_polarity(
    finding: str, verb: str, tail: str, kind: Polarity
) -> None:
    base = f"{finding.capitalize()} {verb}" if kind is P else f"No {finding} {verb}"
    before = pol(base + ".", finding)
    after = pol(f"{base}; {tail}.", finding)
    assert before is after is kind


@given(st.text(max_size=200), st.integers(0, 200), st.integers(0, 200))
def test_never_raises(text: str, a: int, b: int) -> None:
    lo, hi = sorted((min(a, len(text)), min(b, len(text))))
    assert polarity_of(text, lo, hi) in (P, A, U)


WORDS = st.sampled_from(
    ["no", "not", "was", "were", "observed", "detected", "nodule", "effusion", "and", "there", "is", ",", ";",
     "which", "possible", "?", "(", ")", "cannot", "be", "excluded", "without", "the", "lung", "5mm", "change",
     "significant", "but", "absent", "free", "of", "seen", "completely", "regressed", "-", "thickening"]
)


@given(st.lists(WORDS, max_size=25), st.sampled_from([" ", "", "  "]))
def test_token_scan_equals_a_full_regex_scan(words: list[str], sep: str) -> None:
    import re

    from radgenome.text.negation import _cue_matches, _cues

    sentence = sep.join(words)
    reference = re.compile(
        r"(?=[A-Za-z,;:?\[(])(?:(?<![A-Za-z0-9])|(?![A-Za-z]))(?:" + _cues().regex.pattern + ")", re.IGNORECASE
    )
    expected = [(m.start(), m.end(), m.lastgroup) for m in reference.finditer(sentence)]
    got = [(m.start(), m.end(), m.lastgroup) for m in _cue_matches(sentence)]
    assert got == expected


def test_hyphen_no_formula_negates_both_sides() -> None:
    s = "Pericardial effusion - no thickening was detected."
    assert pol(s, "Pericardial effusion") is A
    assert pol(s, "thickening") is A


@pytest.mark.parametrize(
    ("sentence", "mention", "expected"),
    [
        ("Bilateral pleural effusion, which was not observed in the previous examination.", "pleural effusion", P),
        ("A few nodules in both lungs, some of which were not seen on previous examination.", "nodules", P),
        ("Pleural effusion seen on the old study was not detected in the current examination.", "effusion", A),
        ("No significant regression was detected in the consolidation areas.", "consolidation", P),
        ("There is no significant difference in the ground glass areas.", "ground glass", P),
        ("A mass whose borders cannot be clearly distinguished is seen.", "mass", P),
        ("No distinction was made between round pneumonia and atelectasis.", "atelectasis", U),
        ("Metastasis not excluded.", "Metastasis", U),
    ],
)
def test_comparisons_and_hedges(sentence: str, mention: str, expected: Polarity) -> None:
    assert pol(sentence, mention) is expected


def test_list_opened_by_in_terms_of_stays_in_the_negated_clause() -> None:
    s = "No suspicious nodules were observed in terms of pneumonic infiltration, mass lesion and metastasis."
    for phrase in ("pneumonic infiltration", "mass lesion", "metastasis"):
        start = s.index(phrase)
        assert polarity_of(s, start, start + len(phrase)) == Polarity.ABSENT

"""The rules follow ../shared/reference/grounding_conventions.md: one test per convention, with report sentences."""

from __future__ import annotations

import pytest

from radgenome.text.grounding import OTHERS, Grounding, ground_sentence
from radgenome.text.recommendations import recommendation_spans


def nodes(sentence: str, previous: str | None = None) -> set[str]:
    prev: Grounding | None = ground_sentence(previous) if previous else None
    return set(ground_sentence(sentence, prev).nodes)


# ------------------------------------------------------------------------------- rule 3: recommendations
LUNG_BEFORE = "Patchy ground glass densities are observed in both lungs."


@pytest.mark.parametrize(
    "sentence",
    [
        "Clinical and laboratory correlation is recommended.",
        "Post-treatment control is recommended.",
        "US control is recommended.",
        "It is recommended to be evaluated together with clinical and laboratory findings.",
        "Clinical and laboratory evaluation will be appropriate.",
        "Follow-up is recommended.",
        "It is recommended to be evaluated together with breast US.",
        "It is recommended to evaluate the case with upper abdomen MRI.",
        "It is recommended to be evaluated together with clinical and laboratory findings in terms of Covid-19 "
        "pneumonia.",
        "Evaluate with clinical and laboratory findings in terms of aspiration pneumonia is recommended.",
        "However, it should be known that CT may be false negative in the first few days.",
    ],
)
def test_recommendation_only_sentences_are_others_and_never_inherit(sentence: str) -> None:
    assert nodes(sentence, LUNG_BEFORE) == {OTHERS}
    assert nodes(sentence) == {OTHERS}


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Nodule in the right thyroid lobe; USG control is recommended.", {"right thyroid"}),
        ("Hypodense nodule with peripheral calcification in the right thyroid lobe is recommended to be evaluated "
         "with US.", {"right thyroid"}),
        ("Findings compatible with Covid-19 viral pneumonia, clinical laboratory correlation and follow-up are "
         "recommended.", {"lung"}),
        ("Nodules in both lungs (follow-up recommended).", {"left lung", "right lung"}),
        # the disease named by the recommendation adds nothing; the stated findings keep their region
        ("Atelectasis in both lungs, clinical correlation in terms of cardiac stasis is recommended.",
         {"left lung", "right lung"}),
    ],
)
def test_a_sentence_that_recommends_and_states_a_finding_keeps_the_finding_region(
    sentence: str, expected: set[str]
) -> None:
    assert nodes(sentence, LUNG_BEFORE) == expected


def test_the_sentence_after_a_recommendation_does_not_inherit_through_it() -> None:
    rec = ground_sentence("Clinical correlation is recommended.", ground_sentence(LUNG_BEFORE))
    assert rec.nodes == (OTHERS,)
    assert ground_sentence("Appearance is nonspecific.", rec).nodes == (OTHERS,)


def test_recommendation_spans_cover_only_the_recommending_clause() -> None:
    s = "findings compatible with viral pneumonia, clinical correlation is recommended."
    rec = recommendation_spans(s)
    assert rec.clauses == 1
    ((a, b),) = rec.spans
    assert s[a:b].strip() == "clinical correlation is recommended."
    assert recommendation_spans("nodules in both lungs.").clauses == 0
    # "suggested" only as a recommendation verb
    assert recommendation_spans("it suggested a subacute process.").clauses == 0

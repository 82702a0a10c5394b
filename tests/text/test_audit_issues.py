"""The text-engine problems the audit found on the shared reports (/work/briefs/text_engine_issues_from_audit.md),
one test each."""

from __future__ import annotations

import radgenome
from radgenome.model import Polarity
from radgenome.text.grounding import ground_sentence
from radgenome.text.sentences import split_sentences

P, A, U = Polarity.PRESENT, Polarity.ABSENT, Polarity.UNCERTAIN


def findings(text: str) -> dict[str, Polarity]:
    a = radgenome.analyze_report(text)
    return {f.phrase: f.polarity for s in a.sentences for f in s.findings}


def test_1_not_typical_qualifies_the_appearance_and_makes_up_no_phrase() -> None:
    assert findings("Although the appearance is not typical, viral pneumonia cannot be excluded.") == {
        "viral pneumonia": U}
    assert findings("The outlook is not typical for Covid pneumonia.") == {"covid pneumonia": U}


def test_2_a_clause_after_a_technique_limitation_keeps_its_polarity() -> None:
    got = findings("Mediastinal structures are not evaluated optimally because there is no contrast, and an increase "
                   "in heart size is observed.")
    assert got == {"cardiomegaly": P}
    assert findings("There is no pleural effusion, and the heart is enlarged.")["pleural effusion"] is A


def test_3_a_sentence_may_start_with_a_size() -> None:
    for text in ("No stone was detected.3 mm calculus is observed.",
                 "No stone was detected. 3 mm calculus is observed."):
        assert [s.text for s in split_sentences(text)] == ["No stone was detected.", "3 mm calculus is observed."]
    got = findings("No stone was detected.3 mm calculus is observed in the gallbladder.")
    assert got == {"stone": A, "calculus": P}
    got_split = [s.text for s in split_sentences("It measures 4.6 mm. Left 6. rib.")]
    assert got_split == ["It measures 4.6 mm.", "Left 6. rib."]


def test_4_a_disappeared_disc_space_is_the_abnormality() -> None:
    assert findings("Disc distance has completely disappeared at the L4-5 level.") == {"disc space narrowing": P}
    assert findings("The nodules observed in the previous examination have disappeared.") == {"nodules": A}


def test_5_no_difference_in_a_lesion_is_a_comparison_not_a_negation() -> None:
    assert findings("No significant dimensional and structural difference in the mass.") == {"mass": P}
    assert findings("No significant change in the nodule.") == {"nodule": P}
    assert findings("No mass was detected.") == {"mass": A}


def test_6_hedges() -> None:
    assert findings("The nodule is thought to be due to infection.") == {"nodule": P, "infection": U}
    assert findings("Malignancy is less likely.") == {"malignancy": U}
    assert findings("However, the outlook is risky for early viral pneumonia, albeit low.") == {
        "early viral pneumonia": U}
    assert findings("A nodule, albeit small, is observed in the right lung.") == {"nodule": P}


def test_7_osteochondroplastica_is_not_a_bone() -> None:
    s = "Millimetric calcific nodules are observed in the walls of the trachea and main bronchi (tracheobronchopathy " \
        "osteochondroplastica)."
    assert set(ground_sentence(s).nodes) == {"trachea", "bronchie"}


def test_8_thoracic_and_abdominal_aorta_take_their_own_region() -> None:
    a = radgenome.analyze_report("Atheroma plaques in the thoracic aorta. Ectasia of the abdominal aorta.")
    assert [s.chosen_paths() for s in a.sentences] == [("mediastinum/aorta",), ("abdomen/abdomen/aorta",)]


def test_9_a_side_phrase_without_a_lung_word_gives_the_side() -> None:
    assert ground_sentence("On the left, at the level of the interlobar fissure, 2 nodules are observed.").nodes == (
        "left lung",)

from __future__ import annotations

import pytest

from radgenome.anatomy import load_hierarchy
from radgenome.text.grounding import OTHERS, ground_sentence, load_lexicon


def nodes(sentence: str) -> set[str]:
    return set(ground_sentence(sentence).nodes)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Subsegmental atelectasis is observed in the right middle lobe.", {"right lung middle lobe"}),
        ("Atelectasis is observed in the middle lobe and lower lobe of the right lung.",
         {"right lung middle lobe", "right lung lower lobe"}),
        ("Ground glass areas in the lower lobes of both lungs.", {"left lung lower lobe", "right lung lower lobe"}),
        ("A nodule in the posterior segment of the right lung upper lobe.", {"right lung upper lobe"}),
        ("Atelectasis in the inferior lingular segment.", {"left lung upper lobe"}),
        ("Consolidation in the superior segment of the left lower lobe.", {"left lung lower lobe"}),
        ("Emphysematous changes are present in both lungs.", {"left lung", "right lung"}),
        ("No mass was detected in the right lung.", {"right lung"}),
        ("Trachea, both main bronchi are open.", {"trachea", "bronchie"}),
        ("Mediastinal main vascular structures, heart contour, size are normal.", {"mediastinum", "heart"}),
        ("Thoracic aorta diameter is normal.", {"aorta"}),
        ("The ascending aorta measures 41 mm.", {"heart ascending aorta"}),
        ("Pericardial effusion-thickening was not observed.", {"heart"}),
        ("No pleural or pericardial effusion was detected.", {"pleura", "heart"}),
        ("Bilateral adrenal glands were normal.", {"left adrenal gland", "right adrenal gland"}),
        ("The left kidney partially entering the section is atrophic.", {"left kidney"}),
        ("A cyst in the right lobe of the liver.", {"right lobe of liver"}),
        ("Compression fracture in the T9 vertebra.", {"thoracic vertebrae 9 (t9)"}),
        ("Height loss at the T11-12 vertebral bodies.", {"thoracic vertebrae 11 (t11)", "thoracic vertebrae 12 (t12)"}),
        ("Compression of the 11th thoracic vertebra.", {"thoracic vertebrae 11 (t11)"}),
        ("Fracture of the left 7th rib.", {"left rib 7"}),
        ("Old fractures in the right 5th and 6th ribs.", {"right rib 5", "right rib 6"}),
        ("Callus formation in the ribs.", {"rib"}),
        ("Hypodense nodule in the left thyroid lobe.", {"left thyroid"}),
        ("Bilateral gynecomastia was observed.", {"left breast", "right breast"}),
        ("Sliding type hiatal hernia at the lower end of the esophagus.", {"esophagus"}),
        ("No enlarged lymph nodes in prevascular, pre-paratracheal, subcarinal or bilateral hilar-axillary "
         "pathological dimensions were detected.", {"mediastinal tissue"}),
        ("No lymph node in pathological size was detected at both hilar levels.", {"mediastinal tissue"}),
        ("No lymph nodes in the upper abdominal sections.", {"abdomen"}),
        ("The contour, size, parenchyma density of the spleen is normal.", {"spleen"}),
        ("Calcific atheroma plaques in the aorta and coronary arteries.", {"aorta", "heart"}),
        ("When examined in the lung parenchyma window; Trachea is open.", {"trachea"}),
    ],
)
def test_grounding_examples(sentence: str, expected: set[str]) -> None:
    assert nodes(sentence) == expected


def test_finding_implies_region_when_no_anatomy_is_named() -> None:
    g = ground_sentence("Emphysematous changes are observed.")
    assert g.nodes == ("lung",)
    assert g.source == "finding"


def test_continuation_sentences_inherit_the_previous_region() -> None:
    prev = ground_sentence("A 12 mm hypodense nodule is observed in the left thyroid lobe.")
    g = ground_sentence("It has lobulated contours.", prev)
    assert g.nodes == ("left thyroid",)
    assert g.source == "context"
    assert g.confidence < prev.confidence


def test_unrelated_sentence_goes_to_others_explicitly() -> None:
    g = ground_sentence("Not given.")
    assert g.nodes == (OTHERS,)
    assert g.source == "others"


def test_lexicon_names_only_hierarchy_nodes() -> None:
    h = load_hierarchy()
    for entry in load_lexicon().entries:
        for node in entry.nodes:
            assert node in h or node in ("mediastinum", "abdomen", "bone", "lung", "others")


def test_results_never_contain_an_ancestor_of_another_result() -> None:
    h = load_hierarchy()
    for s in ("Nodules in the right lung upper lobe and right lung.", "Fracture of the left 7th rib and ribs."):
        found = ground_sentence(s).nodes
        for a in found:
            assert not any(a in h.ancestors(b) for b in found if b != a and b in h)


def test_first_chars_of_lexicon_patterns() -> None:
    from radgenome.text.grounding import first_chars

    assert first_chars(r"\blung\w*|\bpulmonar\w*") == frozenset("lp")
    assert first_chars(r"\b(?:ascending|thoracic)?\s*aort(?:a|ic)\b") == frozenset("ata")
    assert first_chars(r"\b\d{1,2}(?:st|nd) rib") == frozenset("0123456789")
    assert first_chars(r"[a-z]+") is None
    lex = load_lexicon()
    # every entry is reachable from the characters its matches start with
    assert set().union(*lex.by_first_char.values()) == set(range(len(lex.entries)))

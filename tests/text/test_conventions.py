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


# ------------------------------------------------------------------------------------- rule 1: landmarks
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("A subpleural nodule with a diameter of 2 mm is observed in the middle lobe of the right lung.",
         {"right lung middle lobe"}),
        ("A few millimetric nonspecific subpleural nodules are observed.", {"lung"}),
        ("Nonspecific millimetric nodule in the paramediastinal area in the posterior segment of the right lung "
         "upper lobe.", {"right lung upper lobe"}),
        ("In the upper lobe of the right lung, there is a mass of 6 cm in diameter, located centrally, adjacent to "
         "the mediastinum.", {"right lung upper lobe"}),
        ("Pleural thickening at the left lung base.", {"pleura"}),
        ("Pleural calcification at the level of the lower lobe.", {"pleura"}),
        ("Thickening of the middle lobe level in the mediastinal pleura.", {"pleura"}),
        ("Pleural effusion in the left lung.", {"pleura"}),
        ("There is a small amount of effusion in the left hemithorax.", {"pleura"}),
        ("There is a large pneumothorax in the left lung.", {"pleura"}),
        ("Lymph node at the level of the carina.", {"mediastinal tissue"}),
        # a landmark followed by a finding of its own is a statement about it
        ("Atelectasis in both lungs adjacent to the pleural effusion.", {"left lung", "right lung", "pleura"}),
        # without another named region the landmark is the site
        ("Millimetric-sized calcific atheroma plaques are observed at the level of the aortic arch.", {"aorta"}),
        ("At the level of segment 6 of the right lobe of the liver, subcapsular hypodense areas.",
         {"right lobe of liver"}),
        # lung findings keep the lung beside the pleura
        ("Bilateral minimal pleural effusion and atelectasis in both lungs.", {"pleura", "left lung", "right lung"}),
        ("Metastatic lesions in both lungs, pleural masses in the right hemithorax.",
         {"left lung", "right lung", "pleura"}),
        ("Pleuroparenchymal sequelae changes in the right lung upper lobe.", {"right lung upper lobe", "pleura"}),
    ],
)
def test_landmarks_do_not_add_a_region(sentence: str, expected: set[str]) -> None:
    assert nodes(sentence) == expected


# ------------------------------------------------------------------------ airways: bronchial-wall findings
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Bilateral peribronchial thickenings were observed.", {"bronchie"}),
        ("Minimal peribronchial thickening in both lungs.", {"bronchie", "left lung", "right lung"}),
        ("Peribronchial thickening in the lower lobes.", {"bronchie", "left lung lower lobe", "right lung lower lobe"}),
        ("Thickening of the bronchial wall.", {"bronchie"}),
        ("There is minimal bronchiectasis in the central parts of both lungs.",
         {"bronchie", "left lung", "right lung"}),
        ("Bronchiectatic changes.", {"bronchie"}),
        # "peribronchial" locating a parenchymal finding is a lung word
        ("Peribronchial minimal consolidation is seen in the lower lobes.",
         {"left lung lower lobe", "right lung lower lobe"}),
    ],
)
def test_bronchial_wall_findings_are_about_the_airways(sentence: str, expected: set[str]) -> None:
    assert nodes(sentence) == expected


# ----------------------------------------------------------------------------------------- lymph nodes
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("No enlarged lymph nodes in pathological dimensions were detected.", {OTHERS}),
        ("No pathological size and configuration of lymph nodes were detected at both hilar levels.",
         {"mediastinal tissue"}),
        ("No pathologically enlarged lymph nodes were detected in the mediastinum and hilar regions.",
         {"mediastinal tissue"}),
        ("No lymph node was observed in the supraclavicular fossa and axilla in pathological size and appearance.",
         {OTHERS}),
        ("In the left axilla, there are lymph nodes less than 1 cm in short axes.", {OTHERS}),
        ("No enlarged lymph nodes in prevascular, pre-paratracheal, subcarinal or bilateral hilar-axillary "
         "pathological dimensions were detected.", {"mediastinal tissue"}),
        ("No lymph nodes in the upper abdominal sections.", {"abdomen"}),
        ("Right hilar calcified lymph nodes and calcified parenchymal nodule in the upper lobe of the right lung.",
         {"mediastinal tissue", "right lung upper lobe"}),
        # the hilum without lymph nodes is the lung's
        ("Near the hilar area of the left lung, there are cavitary nodular lesions.", {"left lung"}),
    ],
)
def test_lymph_nodes_take_their_stated_site_or_others(sentence: str, expected: set[str]) -> None:
    assert nodes(sentence) == expected


def test_lymph_nodes_with_no_site_do_not_inherit_from_a_single_region_context() -> None:
    assert nodes("No enlarged lymph nodes were detected.", "Nodules in the right lung.") == {OTHERS}


# ------------------------------------------------- rules 4, 5, 7, 8 and general statements ("Others")
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # rule 4: technique phrases do not add a region; a limitation that names one does
        ("When the lung parenchyma window is examined; trachea, both main bronchi are open.", {"trachea", "bronchie"}),
        ("In the evaluation of both lung parenchyma; Motion artifacts are observed in the examination.", {OTHERS}),
        ("Mediastinal structures cannot be evaluated optimally because contrast material is not given.",
         {"mediastinal tissue"}),
        ("Mediastinal vascular structures could not be evaluated because the cardiac examination was without IV "
         "contrast.", {"mediastinum", "heart"}),
        # rule 5: the cardiovascular template's vascular structures are mediastinal; generic ones are not
        ("Calibration of vascular structures, heart contour and size are natural.", {"mediastinum", "heart"}),
        ("Evaluation of solid organs and vascular structures is suboptimal because the examination is non-contrast.",
         {OTHERS}),
        # rule 7: parenthetical differentials add nothing
        ("Uniform interlobular septal thickening in both lungs (secondary to cardiac pathology?).",
         {"left lung", "right lung"}),
        ("Millimetric calcifications in the walls of the trachea and main bronchus (tracheobronchopathy "
         "osteochondroplastica).", {"trachea", "bronchie"}),
        # effusion in the hemithorax is in the pleural space
        ("Small amount of effusion in the right hemithorax, emphysematous changes in both lungs.",
         {"pleura", "left lung", "right lung"}),
        ("The amount of pleural effusion and pericardial effusion observed in the right hemithorax has increased.",
         {"pleura", "heart"}),
    ],
)
def test_technique_vascular_and_parenthetical_conventions(sentence: str, expected: set[str]) -> None:
    assert nodes(sentence) == expected


@pytest.mark.parametrize(
    "sentence",
    ["Other findings are stable.", "No obvious pathology was detected.", "No significant difference was detected.",
     "Thoracic CT examination within normal limits", "No newly developed pathology was detected."],
)
def test_general_statements_are_others_and_do_not_inherit(sentence: str) -> None:
    assert nodes(sentence, LUNG_BEFORE) == {OTHERS}


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Lumens are clear.", {"trachea", "bronchie"}),
        ("It is wider than normal.", {"trachea", "bronchie"}),
    ],
)
def test_anaphoric_sentences_take_the_antecedent_region(sentence: str, expected: set[str]) -> None:
    assert nodes(sentence, "Trachea and both main bronchi are open.") == expected

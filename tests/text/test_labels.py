"""CT-RATE's 18 labels by rules (our own example sentences; benchmark test skips without the data)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from radgenome.model import Polarity
from radgenome.text.labels import LABELS, extract_labels, label_mentions

MACRO_F1_FLOOR = 0.95


def test_labels_order_matches_contract() -> None:
    assert len(LABELS) == 18
    assert LABELS[0] == "Medical material"
    assert LABELS[-1] == "Interlobular septal thickening"
    assert LABELS.index("Lung nodule") == 9


# label -> (positive sentences, negated sentences)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "Medical material": (
        ["A central venous catheter is seen ending in the superior vena cava.",
         "Sternotomy wires are noted.", "A cardiac pacemaker is present in the left chest wall."],
        ["No catheter or tube is seen."],
    ),
    "Arterial wall calcification": (
        ["Calcified atheromatous plaques are seen in the thoracic aorta.",
         "Atherosclerotic changes of the aorta.", "There is calcification in the aortic wall."],
        ["No atherosclerotic plaque was seen in the aorta."],
    ),
    "Cardiomegaly": (
        ["The heart is enlarged.", "Heart dimensions have increased.",
         "The cardiothoracic ratio increased in favor of the heart.", "Cardiomegaly."],
        ["Heart size is normal and cardiomegaly was not seen."],
    ),
    "Pericardial effusion": (
        ["A small pericardial effusion is noted.", "Pericardial fluid measuring 8 mm is observed."],
        ["Pericardial effusion-thickening was not detected."],
    ),
    "Coronary artery wall calcification": (
        ["Calcific plaques are seen in the coronary arteries.", "Coronary artery calcifications are noted."],
        ["No calcification was seen in the coronary arteries."],
    ),
    "Hiatal hernia": (
        ["A small hiatal hernia is present.", "Hiatus hernia."],
        ["There is no hiatal hernia."],
    ),
    "Lymphadenopathy": (
        ["Enlarged lymph nodes are seen in the subcarinal region.",
         "Mediastinal lymphadenopathy is present.", "Several LAPs in the paratracheal area."],
        ["No pathologically enlarged lymph nodes were detected in the mediastinum.",
         "An intrapulmonary lymph node is seen along the fissure."],
    ),
    "Emphysema": (
        ["Centrilobular emphysema in both upper lobes.", "There are emphysematous changes in both lungs."],
        ["Emphysema was not observed.", "Subcutaneous emphysema in the chest wall."],
    ),
    "Atelectasis": (
        ["Linear atelectasis in the right middle lobe.", "There are atelectatic changes at the bases."],
        ["No atelectasis was found."],
    ),
    "Lung nodule": (
        ["A 4 mm nodule in the left lower lobe.", "Millimetric nonspecific nodules in both lungs."],
        ["No nodule was seen in either lung.", "A nodule is seen in the left thyroid gland."],
    ),
    "Lung opacity": (
        ["Ground glass areas in the right lower lobe.", "Patchy opacities in both lungs."],
        ["No infiltration or opacity was seen in the lung parenchyma."],
    ),
    "Pulmonary fibrotic sequela": (
        ["Fibrotic bands in the left lung apex.", "Sequela changes in both upper lobes."],
        ["No fibrosis was detected."],
    ),
    "Pleural effusion": (
        ["Right pleural effusion measuring 15 mm.", "Bilateral pleural effusion is seen."],
        ["Pleural effusion-thickening was not observed."],
    ),
    "Mosaic attenuation pattern": (
        ["Mosaic attenuation in both lungs.", "A mosaic perfusion pattern is noted."],
        ["No mosaic pattern was seen."],
    ),
    "Peribronchial thickening": (
        ["Peribronchial thickening in the lower lobes.", "The bronchial walls are thickened."],
        ["No bronchial wall thickening was seen."],
    ),
    "Consolidation": (
        ["An area of consolidation in the left lower lobe.", "Consolidative changes in the lingula."],
        ["No consolidation was found."],
    ),
    "Bronchiectasis": (
        ["Cylindrical bronchiectasis in the middle lobe.", "Bronchiectatic changes in both lower lobes."],
        ["Bronchiectasis was not detected."],
    ),
    "Interlobular septal thickening": (
        ["Interlobular septal thickening in both lungs.", "Thickening of the interlobular septa is noted."],
        ["No interlobular septal thickening was seen."],
    ),
}


@pytest.mark.parametrize("label", LABELS)
def test_positive_sentences(label: str) -> None:
    positives, _ = CASES[label]
    for sentence in positives:
        assert extract_labels(sentence)[label] == 1, sentence


@pytest.mark.parametrize("label", LABELS)
def test_negated_sentences(label: str) -> None:
    _, negatives = CASES[label]
    for sentence in negatives:
        assert extract_labels(sentence)[label] == 0, sentence


def test_uncertain_mentions_do_not_count() -> None:
    # hedged findings are not asserted; measured on CT-CLIP's manual labels this is (slightly) closer to the gold
    assert extract_labels("Findings suspicious for consolidation in the right lower lobe.")["Consolidation"] == 0
    assert extract_labels("Possible hiatal hernia.")["Hiatal hernia"] == 0
    # ... but "compatible with" / "in favor of" assert the finding
    assert extract_labels("Findings compatible with consolidation in the left lower lobe.")["Consolidation"] == 1


def test_clause_after_negated_clause_is_asserted() -> None:
    s = "No wall thickening is seen in the esophagus, and there is a small hiatal hernia at the lower end."
    assert extract_labels(s)["Hiatal hernia"] == 1


def test_impressions_are_read_and_output_is_complete() -> None:
    labels = extract_labels("The lungs are clear.", "Minimal pleural effusion on the left.")
    assert list(labels) == list(LABELS)
    assert labels["Pleural effusion"] == 1
    assert sum(labels.values()) == 1
    assert sum(extract_labels("", "").values()) == 0


def test_normal_report_has_no_labels() -> None:
    report = (
        "Trachea and both main bronchi are open. Heart contour and size are normal. "
        "Pericardial effusion-thickening was not seen. No pathologically enlarged lymph nodes were found. "
        "No nodule, mass or infiltration was seen in either lung. Pleural effusion was not detected."
    )
    assert sum(extract_labels(report, "No acute findings.").values()) == 0


def test_label_mentions_reports_polarity() -> None:
    mentions = label_mentions("Atelectasis in the left base without pleural effusion.")
    pols = {label: pol for label, _, _, pol in mentions}
    assert pols["Atelectasis"] is Polarity.PRESENT
    assert pols["Pleural effusion"] is Polarity.ABSENT


def test_macro_f1_on_manual_labels(benchmarks_dir: Path) -> None:
    from radgenome.eval.labels import score_labels

    with (benchmarks_dir / "ctrate" / "manual_labels.csv").open(newline="", encoding="utf-8-sig") as fh:
        gold = list(csv.DictReader(fh))
    preds = [extract_labels(row["report_text"]) for row in gold]
    scores = score_labels(gold, preds)
    assert scores.n == len(gold) > 600
    assert scores.macro_f1 >= MACRO_F1_FLOOR


def _sentences_for_trigger_check(manual: Path | None) -> list[str]:
    from radgenome.text.sentences import split_sentences

    out = [s for pos, neg in CASES.values() for s in (*pos, *neg)]
    if manual is not None:
        with manual.open(newline="", encoding="utf-8-sig") as fh:
            out += [s.text for row in csv.DictReader(fh) for s in split_sentences(row["report_text"])]
    return out


@pytest.mark.parametrize("real", [False, True], ids=["own", "manual_labels"])
def test_every_pattern_match_contains_a_trigger(real: bool, request: pytest.FixtureRequest) -> None:
    # triggers only gate rules for speed; a pattern that can match without a trigger would silently never fire
    from radgenome.text.labels import _engine

    engine = _engine()
    triggers: dict[str, list[str]] = {}
    for trigger, label in engine.triggers:
        triggers.setdefault(label, []).append(trigger)
    missed = []
    manual = request.getfixturevalue("benchmarks_dir") / "ctrate" / "manual_labels.csv" if real else None
    for sentence in _sentences_for_trigger_check(manual):
        for rule in engine.rules:
            for m in rule.pattern.finditer(sentence):
                if not any(t in m.group().lower() for t in triggers[rule.label]):
                    missed.append((rule.label, m.group()))
    assert not missed, missed[:10]

"""Finding a released phrase in a report: levels, head-word polarity, distrusted negations, run-on sentences."""

from __future__ import annotations

from radgenome.audit import engine
from radgenome.audit.matching import Level, find_mentions, phrase_words, same_finding
from radgenome.audit.model import Polarity
from radgenome.audit.rules import split_items


def _view(findings: str, impressions: str = "") -> engine.ReportView:
    from radgenome.model import Report

    report = Report(volume="v", findings=findings, impressions=impressions)
    return engine.analyse(engine.AuditReport("v", findings, impressions, report))


def test_levels_and_plurals() -> None:
    view = _view("Millimetric nodules in both lungs. Emphysematous changes in the upper lobes.")
    (m,) = find_mentions(view, "millimetric nodule")
    assert m.level is Level.EXACT and m.polarity is Polarity.PRESENT
    (w,) = find_mentions(view, "bilateral millimetric nodules in lungs")
    assert w.level is Level.HEAD  # "bilateral" is not written: only the head word (nodules) backs it
    (e,) = find_mentions(view, "pulmonary emphysema")
    assert e.level is Level.HEAD  # word forms fold "emphysematous" into "emphysema"
    assert find_mentions(view, "degenerative changes") == []  # a generic head alone identifies nothing


def test_head_word_decides_the_polarity() -> None:
    view = _view("No lymph node was observed in the mediastinum in pathological size and appearance.")
    assert phrase_words("lymph nodes in pathological size and appearance").head == "node"
    (m,) = find_mentions(view, "lymph nodes in pathological size and appearance")
    assert m.polarity is Polarity.ABSENT
    sub = _view("Subcarinal conglomerated lymph nodes whose borders could not be clearly evaluated were observed.")
    (n,) = find_mentions(sub, "Subcarinal conglomerated lymph nodes whose borders could not be clearly evaluated")
    assert n.polarity is Polarity.PRESENT


def test_distrusted_and_uncertain_negations_read_as_uncertain() -> None:
    view = _view("Although the appearance is not typical, viral pneumonia cannot be excluded.")
    (m,) = find_mentions(view, "viral pneumonia")
    assert m.polarity is Polarity.UNCERTAIN
    change = _view("There was no significant dimensional difference in the mass lesion in the anterior mediastinum.")
    (c,) = find_mentions(change, "mass lesion")
    assert c.polarity is not Polarity.ABSENT


def test_run_on_sentence_keeps_negation_in_its_piece() -> None:
    # the engine keeps ". 3 mm" in one sentence; the audit reads the calculus outside the "no" clause
    view = _view("Bilateral adrenal glands were normal and no space-occupying lesion was detected. 3 mm calculus "
                 "is observed in the middle part of the left kidney.")
    (m,) = find_mentions(view, "3 mm calculus")
    assert m.polarity is Polarity.PRESENT
    (n,) = find_mentions(view, "space-occupying lesion")
    assert n.polarity is Polarity.ABSENT


def test_split_items_rejoins_commas_the_report_wrote() -> None:
    text = "pathological lymph nodes measuring 25x14 mm (left), 12x10 mm (right) in the bilateral region. 8,5 mm nodule"
    assert split_items("pathological lymph nodes measuring 25x14 mm (left), 12x10 mm (right), nodule", text) == [
        "pathological lymph nodes measuring 25x14 mm (left), 12x10 mm (right)", "nodule"]
    assert split_items("8,5 mm nodule, effusion", text) == ["8,5 mm nodule", "effusion"]


def test_same_finding() -> None:
    assert same_finding("pericardial effusion", "pericardial effusion-thickening")
    assert same_finding("nodules", "millimetric nodule")
    assert not same_finding("pleural effusion", "pericardial thickening")

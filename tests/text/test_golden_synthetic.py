"""Golden tests: generated CT-RATE-style reports whose truth is known (radgenome.synth.reports)."""

from __future__ import annotations

from collections import Counter

import pytest

from radgenome.anatomy import load_hierarchy
from radgenome.corpus.reports import clean_text
from radgenome.dataset.tables import volume_rows
from radgenome.model import Polarity, Report, Section
from radgenome.synth.reports import generate_reports, region_sentences
from radgenome.text.engine import RulesBackend
from radgenome.text.labels import LABELS


@pytest.fixture(scope="module")
def analysed():
    reports = generate_reports(300, seed=11, quirk_rate=0.15)
    backend = RulesBackend()
    out = []
    for r in reports:
        report = Report(
            volume=r.volume, findings=clean_text(r.findings_text), impressions=clean_text(r.impressions_text)
        )
        out.append((r, backend.analyze(report)))
    return out


def _by_text(analysis):
    return {s.text: s for s in analysis.sentences if s.section == Section.FINDINGS}


def test_grounding_matches_the_truth_nodes(analysed) -> None:
    h = load_hierarchy()
    hits = total = 0
    for synth, analysis in analysed:
        ours = _by_text(analysis)
        for truth in synth.truth.sentences:
            total += 1
            sent = ours.get(truth.text)
            if sent is None:
                continue
            want = set(h.expand_paths(truth.nodes))
            got = set(h.expand_paths(sent.nodes))
            hits += want == got
    assert total > 1000
    assert hits / total >= 0.93, f"exact-node agreement {hits}/{total}"


def test_no_stated_negative_is_emitted_as_an_abnormality(analysed) -> None:
    violations = []
    for synth, analysis in analysed:
        ours = _by_text(analysis)
        for truth in synth.truth.sentences:
            sent = ours.get(truth.text)
            if sent is None:
                continue
            negated = {f.phrase for f in truth.findings if f.polarity == Polarity.ABSENT}
            for f in sent.findings:
                if f.polarity != Polarity.ABSENT and f.phrase in negated:
                    violations.append((truth.text, f.phrase))
    assert violations == []


def test_polarity_of_truth_findings(analysed) -> None:
    agree = total = 0
    for synth, analysis in analysed:
        ours = _by_text(analysis)
        for truth in synth.truth.sentences:
            sent = ours.get(truth.text)
            if sent is None or not truth.findings:
                continue
            for tf in truth.findings:
                total += 1
                ours_pols = {f.polarity for f in sent.findings if tf.phrase in f.phrase or f.phrase in tf.phrase}
                agree += tf.polarity in ours_pols
    assert total > 300
    assert agree / total >= 0.9, f"{agree}/{total}"


def test_every_truth_size_is_found_in_mm(analysed) -> None:
    for synth, analysis in analysed:
        ours = _by_text(analysis)
        for truth in synth.truth.sentences:
            sent = ours.get(truth.text)
            if sent is None:
                continue
            found = sorted(round(m.largest_mm, 3) for m in sent.measurements)
            want = sorted(round(s.largest_mm, 3) for s in truth.sizes)
            assert found == want, truth.text


def test_labels_match_the_truth(analysed) -> None:
    wrong = Counter()
    for synth, analysis in analysed:
        for name in LABELS:
            wrong[name] += int(analysis.labels[name] != synth.truth.labels[name])
    assert sum(wrong.values()) / (len(analysed) * len(LABELS)) <= 0.03, wrong


def test_region_report_rows_match_the_truth_oracle(analysed) -> None:
    exact = total = 0
    for synth, analysis in analysed:
        rows = {path: text for _, path, text in volume_rows(analysis)["region_report"] if path}
        truth = {p: " ".join(s) for p, s in region_sentences(synth).items()}
        for path, text in truth.items():
            total += 1
            exact += rows.get(path) == text
    assert exact / total >= 0.9, f"{exact}/{total}"


def test_size_kinds_match_the_truth(analysed) -> None:
    bounded = 0
    for synth, analysis in analysed:
        ours = _by_text(analysis)
        for truth in synth.truth.sentences:
            sent = ours.get(truth.text)
            if sent is None:
                continue
            found = sorted((round(m.largest_mm, 3), m.kind.value) for m in sent.measurements)
            want = sorted((round(s.largest_mm, 3), s.kind) for s in truth.sizes)
            assert found == want, truth.text
            bounded += sum(s.kind != "measured" for s in truth.sizes)
    assert bounded >= 3  # the oracle does write bounds ("not exceeding {size}")


def test_multi_parent_and_airway_nodes_follow_the_conventions(analysed) -> None:
    aorta = airway = 0
    for synth, analysis in analysed:
        rows = {path for _, path, _ in volume_rows(analysis)["region_report"] if path}
        truth = set(region_sentences(synth))
        if "mediastinum/aorta" in truth:
            aorta += 1
            assert "abdomen/abdomen/aorta" not in rows and "abdomen/abdomen/aorta" not in truth
        airway += any(p.startswith("trachea and bronchie/bronchie") for p in truth)
    assert aorta > 10 and airway > 10

"""The synthetic CT-RATE-style report generator: determinism, truth consistency, measurements, CSV, quirks."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.model import Polarity
from radgenome.synth.reports import (
    CSV_COLUMNS,
    QUIRKS,
    FindingSpec,
    SyntheticReport,
    _render,
    generate_report,
    generate_reports,
    load_catalogue,
    region_sentences,
    write_reports_csv,
    write_truth_jsonl,
)
from radgenome.text.measure import parse_measurements

LABELS = (
    "Medical material", "Arterial wall calcification", "Cardiomegaly", "Pericardial effusion",
    "Coronary artery wall calcification", "Hiatal hernia", "Lymphadenopathy", "Emphysema", "Atelectasis",
    "Lung nodule", "Lung opacity", "Pulmonary fibrotic sequela", "Pleural effusion", "Mosaic attenuation pattern",
    "Peribronchial thickening", "Consolidation", "Bronchiectasis", "Interlobular septal thickening",
)


@pytest.fixture(scope="module")
def reports() -> list[SyntheticReport]:
    return generate_reports(300, seed=7, quirk_rate=0.2)


def test_deterministic_and_prefix_stable() -> None:
    a = generate_reports(20, seed=3)
    assert a == generate_reports(20, seed=3)
    assert a[:5] == generate_reports(5, seed=3)
    assert [r.findings_text for r in a] != [r.findings_text for r in generate_reports(20, seed=4)]


def test_volume_names() -> None:
    assert [r.volume for r in generate_reports(3)] == [f"train_{i}_a_1.nii.gz" for i in (1, 2, 3)]
    assert generate_reports(1, volume_prefix="valid")[0].volume == "valid_1_a_1.nii.gz"
    assert generate_reports(2, volume_names=["a.nii.gz", "case B"])[1].volume == "case B"
    with pytest.raises(ValueError):
        generate_reports(2, volume_names=["only one"])


def test_catalogue_consistent() -> None:
    cat = load_catalogue()
    h = load_hierarchy()
    assert cat.labels == LABELS
    for loc in cat.locations.values():
        for node in loc.nodes:
            assert node in h, (loc.id, node)
    for n in cat.normals:
        for node in (*n.nodes, *(x for t in n.templates for x in t.nodes)):
            assert node in h or node in TOP_LEVEL_REGIONS, (n.id, node)  # a whole-region mention


def test_every_template_renders_everywhere() -> None:
    """Each finding, in each of its template kinds, at each of its location phrases: phrase present, sizes parse."""
    cat = load_catalogue()
    size_by_kind = {"present_sized": "12x9 mm", "present_range": "3-5 mm"}
    for f in cat.findings.values():
        for kind in ("present", "present_sized", "present_range", "absent", "uncertain"):
            for template in f.pool(kind):
                for lid in f.locations:
                    for loc in cat.locations[lid].phrases:
                        if not loc and "{Loc}" in template:
                            continue
                        text = _render(template, f.phrase, loc, size_by_kind.get(kind, ""))
                        assert f.phrase in text.lower(), (f.id, text)
                        assert "{" not in text and "\x00" not in text and "  " not in text, text
                        assert text[0].isupper() and text.endswith("."), text
                        expected = [size_by_kind[kind]] if kind in size_by_kind and "{size}" in template else []
                        assert [m.text for m in parse_measurements(text)] == expected, text


def _all_sentences(r: SyntheticReport):  # type: ignore[no-untyped-def]
    return [*r.truth.sentences, *r.truth.impressions]


def test_spans_and_phrases(reports: list[SyntheticReport]) -> None:
    for r in reports:
        for section_text, sentences in ((r.findings_text, r.truth.sentences), (r.impressions_text,
                                                                              r.truth.impressions)):
            end = 0
            for s in sentences:
                assert section_text[s.start : s.end] == s.text
                assert s.start >= end
                end = s.end
            assert not section_text[end:].strip()
        for s in r.truth.sentences:
            for f in s.findings:
                assert f.phrase in s.text.lower(), (f.phrase, s.text)
        for s in r.truth.impressions:
            for f in s.findings:
                assert f.phrase in s.text.lower() or f.disorder in s.text.lower(), s.text


def test_truth_nodes_exist(reports: list[SyntheticReport]) -> None:
    h = load_hierarchy()
    for r in reports:
        for s in _all_sentences(r):
            for node in s.nodes:
                assert node in h or node in TOP_LEVEL_REGIONS, node
            for f in s.findings:
                assert all(node in h or node in TOP_LEVEL_REGIONS for node in f.nodes)
        assert all(s.nodes for s in r.truth.sentences)


def test_measurements_parse_back(reports: list[SyntheticReport]) -> None:
    n_sizes = 0
    for r in reports:
        for s in r.truth.sentences:
            parsed = parse_measurements(s.text)
            assert [m.text for m in parsed] == [z.text for z in s.sizes], s.text
            assert [m.values_mm for m in parsed] == [z.values_mm for z in s.sizes], s.text
            assert [m.largest_mm for m in parsed] == [z.largest_mm for z in s.sizes], s.text
            n_sizes += len(parsed)
        # nothing else in the report reads as a size
        assert len(parse_measurements(r.findings_text)) == sum(len(s.sizes) for s in r.truth.sentences)
    assert n_sizes > 100


def test_labels_and_disorders_follow_present_findings(reports: list[SyntheticReport]) -> None:
    cat = load_catalogue()
    positives = 0
    for r in reports:
        assert tuple(r.truth.labels) == LABELS
        present = [f for s in r.truth.sentences for f in s.findings if f.polarity is not Polarity.ABSENT]
        expected = {lab: int(any(lab in f.labels for f in present)) for lab in LABELS}
        assert r.truth.labels == expected
        assert set(r.truth.disorders) == {f.disorder for f in present}
        positives += sum(expected.values())
        # no stated negative contradicts a present or hedged finding
        stated = {f.disorder for s in r.truth.sentences for f in s.findings if f.polarity is not Polarity.ABSENT}
        stated_labels = {lab for f in present for lab in f.labels}
        for s in r.truth.sentences:
            for f in s.findings:
                if f.polarity is Polarity.ABSENT and f.finding_id in cat.findings:
                    assert f.disorder not in stated, s.text
                    assert not stated_labels.intersection(f.labels), s.text
        # impressions name the present and hedged findings
        assert {f.disorder for s in r.truth.impressions for f in s.findings} == stated
    assert positives > 200


def test_all_labels_and_polarities_occur(reports: list[SyntheticReport]) -> None:
    seen = {lab for r in reports for lab, v in r.truth.labels.items() if v}
    assert seen == set(LABELS)
    pols = {f.polarity for r in reports for s in r.truth.sentences for f in s.findings}
    assert pols == set(Polarity)


def test_csv_round_trip(tmp_path: Path, reports: list[SyntheticReport]) -> None:
    path = write_reports_csv(reports, tmp_path / "reports.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert rows == [r.row() for r in reports]
    assert rows[0]["Findings_EN"] == reports[0].findings_text


def test_truth_jsonl(tmp_path: Path, reports: list[SyntheticReport]) -> None:
    path = write_truth_jsonl(reports[:10], tmp_path / "truth.jsonl")
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [d["volume"] for d in lines] == [r.volume for r in reports[:10]]
    first = reports[0].truth
    assert lines[0]["labels"] == first.labels
    assert [s["text"] for s in lines[0]["sentences"]] == [s.text for s in first.sentences]


def test_forced_findings_phantom() -> None:
    specs = [
        FindingSpec("lung nodule", node="right lung upper lobe", size_mm=12),
        FindingSpec("pleural effusion", node="pleura", side="left"),
    ]
    for r in generate_reports(20, seed=1, findings=specs):
        present = [f for s in r.truth.sentences for f in s.findings if f.polarity is Polarity.PRESENT]
        assert sorted(f.finding_id for f in present) == ["lung_nodule", "pleural_effusion"]
        nodule = next(f for f in present if f.finding_id == "lung_nodule")
        assert nodule.nodes == ("right lung upper lobe",)
        assert [z.largest_mm for z in nodule.sizes] == [12.0]
        effusion = next(f for f in present if f.finding_id == "pleural_effusion")
        assert (effusion.nodes, effusion.side) == (("pleura",), "left")
        assert {k for k, v in r.truth.labels.items() if v} == {"Lung nodule", "Pleural effusion"}
        absent = [f for s in r.truth.sentences for f in s.findings if f.polarity is Polarity.ABSENT]
        assert "pleural effusion" not in {f.phrase for f in absent}
        assert not any({"Lung nodule", "Pleural effusion"} & set(f.labels) for f in absent)


def test_forced_findings_errors() -> None:
    with pytest.raises(KeyError):
        generate_report(findings=[FindingSpec("no such finding")])
    with pytest.raises(ValueError):
        generate_report(findings=[FindingSpec("lung nodule", node="liver")])


def test_forced_extra_findings_and_dimensions() -> None:
    r = generate_report(
        2, findings=[FindingSpec("hepatic cyst", node="liver", size_mm=(31.5, 20))], extra_findings=True
    )
    cyst = next(f for s in r.truth.sentences for f in s.findings if f.finding_id == "hepatic_cyst")
    assert cyst.sizes[0].text == "31.5x20 mm" and cyst.sizes[0].largest_mm == 31.5


_MISSING_SPACE = re.compile(r"[a-z)]\.[A-Z]")


def test_quirks_at_configured_rate() -> None:
    cat = load_catalogue()
    rate = 0.3
    reps = generate_reports(600, seed=11, quirk_rate=rate)
    for q in ("missing_space", "double_space", "html_remnant", "window_clause"):
        frac = sum(q in r.truth.quirks for r in reps) / len(reps)
        assert abs(frac - rate) < 0.08, (q, frac)
    multi = [r for r in reps if len(r.truth.impressions) > 1]
    frac = sum("numbered_impressions" in r.truth.quirks for r in multi) / len(multi)
    assert abs(frac - rate) < 0.1
    for r in reps:
        q = set(r.truth.quirks)
        assert ("  " in r.findings_text) == ("double_space" in q)
        assert any(h in r.findings_text for h in cat.text["html_remnants"]) == ("html_remnant" in q)
        assert bool(_MISSING_SPACE.search(r.findings_text)) == ("missing_space" in q)
        assert any(w.strip() in r.findings_text for w in cat.text["window_clauses"]) == ("window_clause" in q)
        assert r.impressions_text.startswith(" 1. ") == ("numbered_impressions" in q)
        assert r.impressions_text.startswith(" ")
        assert set(r.truth.quirks) <= set(QUIRKS)
    # decimals: about `rate` of the randomly sized mm findings (ranges excluded) carry one
    mm_sizes = [z.text for r in reps for s in r.truth.sentences for z in s.sizes
                if z.text.endswith("mm") and "-" not in z.text]
    frac = sum("." in t for t in mm_sizes) / len(mm_sizes)
    assert abs(frac - rate) < 0.08, frac


def test_no_quirks_at_rate_zero() -> None:
    for r in generate_reports(100, seed=5, quirk_rate=0.0):
        assert r.truth.quirks == ()
        assert "  " not in r.findings_text and "<" not in r.findings_text and "&" not in r.findings_text
        assert not _MISSING_SPACE.search(r.findings_text)
        assert all("." not in z.text for s in r.truth.sentences for z in s.sizes if z.text.endswith("mm"))


def test_forced_absent_and_uncertain() -> None:
    r = generate_report(findings=[FindingSpec("pleural effusion", side="right", polarity=Polarity.ABSENT),
                                  FindingSpec("consolidation", node="left lung lower lobe",
                                              polarity=Polarity.UNCERTAIN)])
    found = {f.finding_id: f for s in r.truth.sentences for f in s.findings if f.finding_id in
             ("pleural_effusion", "consolidation")}
    assert found["pleural_effusion"].polarity is Polarity.ABSENT and found["pleural_effusion"].side == "right"
    assert found["consolidation"].polarity is Polarity.UNCERTAIN
    assert found["consolidation"].attributes
    assert {k for k, v in r.truth.labels.items() if v} == {"Consolidation"}  # hedged counts (CT-RATE)
    assert r.truth.disorders == ("consolidation",)
    with pytest.raises(ValueError):
        generate_report(findings=[FindingSpec("central venous catheter", polarity=Polarity.ABSENT)])


def test_region_sentences_oracle() -> None:
    r = generate_report(findings=[FindingSpec("lung nodule", node="left lung lower lobe", size_mm=7)])
    rows = region_sentences(r)
    nodule = next(s.text for s in r.truth.sentences for f in s.findings if f.finding_id == "lung_nodule")
    for path in ("lung", "lung/lung", "lung/lung/left lung", "lung/lung/left lung/left lung lower lobe",
                 "lung/lung/lung lower lobe", "lung/lung/lung lower lobe/left lung lower lobe"):
        assert nodule in rows[path], path
    assert "lung/lung/right lung" not in rows or nodule not in rows["lung/lung/right lung"]


def test_skip_slots_leaves_that_part_out() -> None:
    from radgenome.synth.reports import generate_report

    for i in range(20):
        rep = generate_report(3, index=i, skip_slots=("breast",))
        assert "breast" not in rep.findings_text.lower()
        assert not any(n.endswith("breast") for s in rep.truth.sentences for n in s.nodes)

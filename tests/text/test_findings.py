from __future__ import annotations

from radgenome.model import Polarity, Report
from radgenome.text.engine import RulesBackend, finding_nodes
from radgenome.text.findings import extract_findings


def phrases(sentence: str) -> list[tuple[str, str]]:
    return [(f.phrase, f.polarity.value) for f in extract_findings(sentence).findings]


def test_ctrate_negations_are_absent() -> None:
    assert phrases("Pericardial effusion-thickening was not observed.") == [
        ("pericardial effusion", "absent"),
        ("pericardial thickening", "absent"),
    ]
    assert phrases("Thoracic esophagus calibration was normal and no significant tumoral wall thickening was "
                   "detected.") == [("tumoral wall thickening", "absent")]
    assert ("pleural effusion", "absent") in phrases("No pleural or pericardial effusion was detected.")
    assert ("pericardial effusion", "absent") in phrases("No pleural or pericardial effusion was detected.")


def test_present_findings_keep_their_descriptive_words() -> None:
    assert phrases("Calcific atheroma plaques are observed in the aorta.") == [
        ("calcific atheroma plaques", "present")
    ]
    assert phrases("Sliding type hiatal hernia was observed.") == [("sliding type hiatal hernia", "present")]
    assert phrases("Thickening of the bronchial wall in both lungs.") == [("bronchial wall thickening", "present")]
    assert phrases("Heart size increased.") == [("cardiomegaly", "present")]


def test_sizes_go_to_the_nearest_stated_finding() -> None:
    res = extract_findings(
        "A 6x4 mm nonspecific nodule in the right upper lobe and atelectasis in the left lower lobe."
    )
    by_phrase = {f.phrase: f for f in res.findings}
    assert [m.text for m in by_phrase["nonspecific nodule"].measurements] == ["6x4 mm"]
    assert by_phrase["nonspecific nodule"].measurements[0].largest_mm == 6.0
    assert by_phrase["atelectasis"].measurements == ()


def test_attributes_keep_hedging_and_comparison() -> None:
    res = extract_findings("Ground glass areas, compared to the previous examination, have regressed.")
    assert "compared to the previous examination" in res.attributes
    assert any(a.startswith("regress") for a in res.attributes)


def test_uncertain_findings() -> None:
    assert ("metastasis", "uncertain") in phrases("A lesion suspicious for metastasis in the liver.")


def test_finding_nodes_follow_their_own_organ_in_multi_region_sentences() -> None:
    assert finding_nodes("pericardial effusion", ("pleura", "heart")) == ("heart",)
    assert finding_nodes("pleural effusion", ("pleura", "heart")) == ("pleura",)
    assert finding_nodes("nodule", ("pleura", "heart")) == ("pleura", "heart")


def test_engine_analyses_a_report_end_to_end() -> None:
    report = Report(
        volume="case_1",
        findings="Trachea, both main bronchi are open. A 7 mm nodule is observed in the right lung upper lobe. "
        "Pericardial effusion-thickening was not observed.",
        impressions=" Nodule in the right lung upper lobe.",
    )
    a = RulesBackend().analyze(report)
    assert [s.section.value for s in a.sentences] == ["findings"] * 3 + ["impressions"]
    assert [s.index for s in a.sentences] == [0, 1, 2, 3]
    nodule = a.sentences[1]
    assert nodule.nodes == ("right lung upper lobe",)
    assert nodule.findings[0].polarity == Polarity.PRESENT
    assert nodule.findings[0].measurements[0].largest_mm == 7.0
    assert report.findings[nodule.start : nodule.end] == nodule.text
    assert a.sentences[2].findings[0].polarity == Polarity.ABSENT
    assert a.disorders == ["pulmonary nodule"]
    assert a.labels["Lung nodule"] == 1
    assert a.labels["Pericardial effusion"] == 0


def test_properties_called_normal_are_not_findings() -> None:
    assert phrases("Thoracic vertebral corpus heights, alignments and densities are normal.") == []
    assert phrases("The contour, size, parenchyma density of the spleen is normal.") == []
    assert ("density decrease", "present") in phrases("There is a diffuse decrease in liver parenchyma density.")


def test_coordinated_adjectives_and_post_modifiers() -> None:
    assert phrases("Emphysematous and passive atelectatic changes in both lungs.") == [
        ("passive atelectatic changes", "present"),
        ("emphysematous changes", "present"),
    ]
    assert phrases("Minimal thickening of the segmental bronchial walls.") == [
        ("minimal segmental bronchial wall thickening", "present")
    ]
    assert phrases("Atelectasis and bronchiectatic changes.") == [
        ("atelectasis", "present"),
        ("bronchiectatic changes", "present"),
    ]


def test_normal_wording_before_a_property_head() -> None:
    assert phrases("The liver has a normal size and homogeneous density.") == []
    assert phrases("Heterogeneous density in the thyroid gland.") == [("heterogeneous density", "present")]


def test_organ_adjective_is_shared_across_or() -> None:
    assert phrases("No pleural effusion or thickening was detected.") == [
        ("pleural effusion", "absent"),
        ("pleural thickening", "absent"),
    ]

"""Known verdicts on small hand-made RadGenome tables (polarity, side, region, hedging, sizes, disorders,
region sentences, impression-only reports, volumes without a report)."""

from __future__ import annotations

from pathlib import Path

from radgenome.audit import run_audit

from .conftest import read_csv, write_reports, write_table

V1 = "train_1_a_1.nii.gz"
V2 = "train_2_a_1.nii.gz"

REPORT_1 = (
    "Heart contour and size are normal. Pericardial effusion was not observed. The ascending aorta is ectatic. "
    "There is a 5 mm nodule in the right lung lower lobe. No pleural effusion was detected. "
    "A lesion suspicious for metastasis is observed in the liver. "
    "Trachea and both main bronchi are open. No occlusive pathology was detected.",
    "Nodule in the right lung lower lobe.",
)


def _audit(
    release: Path, tmp_path: Path, reports: dict[str, tuple[str, str]], **kw: object
) -> dict[tuple[str, int], dict[str, str]]:
    csv_path = write_reports(tmp_path / "reports.csv", reports)
    out = tmp_path / "out"
    run_audit(release, csv_path, out, **kw)  # type: ignore[arg-type]
    return {(r["file"], int(r["row"])): r for r in read_csv(out / "audit.csv")}


def test_polarity_contradiction_pericardial_effusion_at_heart(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_abnormality", [
        (V1, "heart", "pericardial effusion"),
        (V1, "heart/heart", "ectatic, pericardial effusion"),
    ])
    write_table(release, "vqa_location", [(V1, "heart", "pericardial effusion")])
    write_table(release, "vqa_presence", [(V1, "heart", "pericardial effusion", "Yes.")])
    audit = _audit(release, tmp_path, {V1: REPORT_1})
    row = audit[("train_vqa_abnormality.csv", 1)]
    assert (row["verdict"], row["reason"]) == ("contradicted", "stated_absent")
    assert "Pericardial effusion was not observed." in row["evidence"]
    # the heart has sentences and nothing abnormal: the abnormality row becomes "no findings"
    assert (row["action"], row["after"]) == ("fixed", "no findings")
    both = audit[("train_vqa_abnormality.csv", 2)]
    assert both["verdict"] == "contradicted" and both["action"] == "fixed" and both["after"] == "ectatic"
    assert "ectatic: supported" in both["detail"]
    assert audit[("train_vqa_location.csv", 1)]["action"] == "removed"
    assert audit[("train_vqa_presence.csv", 1)]["action"] == "removed"
    fixed = read_csv(tmp_path / "out/radgenome_files/train_vqa_abnormality.csv")
    assert [r["Abnormality"] for r in fixed] == ["no findings", "ectatic"]
    assert read_csv(tmp_path / "out/radgenome_files/train_vqa_location.csv") == []


def test_side_contradiction_removes_the_wrong_side(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [
        (V1, "lung/lung/left lung", "nodule"),
        (V1, "lung/lung/right lung", "nodule"),
        (V1, "lung/lung/lung lower lobe/right lung lower lobe", "nodule"),
    ])
    audit = _audit(release, tmp_path, {V1: REPORT_1})
    left = audit[("train_vqa_location.csv", 1)]
    assert (left["verdict"], left["reason"], left["action"]) == ("contradicted", "other_side", "removed")
    assert audit[("train_vqa_location.csv", 2)]["verdict"] == "supported"
    assert audit[("train_vqa_location.csv", 3)]["verdict"] == "supported"
    kept = read_csv(tmp_path / "out/radgenome_files/train_vqa_location.csv")
    assert [r["Anatomy"] for r in kept] == ["lung/lung/right lung", "lung/lung/lung lower lobe/right lung lower lobe"]


def test_a_sentence_naming_the_rows_side_is_no_side_contradiction(release: Path, tmp_path: Path) -> None:
    report = ("Nodules of 4 mm at the apical level of the right lung and in the lingula of the left lung.", "")
    write_table(release, "vqa_location", [(V1, "lung/lung/left lung", "nodules")])
    audit = _audit(release, tmp_path, {V1: report})
    assert audit[("train_vqa_location.csv", 1)]["verdict"] != "contradicted"


def test_region_contradiction_needs_the_phrase_to_name_its_organ(release: Path, tmp_path: Path) -> None:
    report = ("Minimal pericardial effusion is observed. Millimetric nodules in both lungs.", "")
    write_table(release, "vqa_location", [
        (V1, "lung", "pericardial effusion"),  # the phrase names the heart: the release filed it in the lung
        (V1, "bone", "nodules"),  # no organ in the phrase: not backed, but not provably elsewhere
    ])
    audit = _audit(release, tmp_path, {V1: report})
    assert (audit[("train_vqa_location.csv", 1)]["verdict"], audit[("train_vqa_location.csv", 1)]["reason"]) == (
        "contradicted", "other_region")
    assert audit[("train_vqa_location.csv", 2)]["verdict"] == "unsupported"


def test_hedged_row_is_not_checked_and_kept(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [(V1, "abdomen/abdomen/liver", "metastasis")])
    audit = _audit(release, tmp_path, {V1: REPORT_1})
    row = audit[("train_vqa_location.csv", 1)]
    assert (row["verdict"], row["reason"], row["action"]) == ("not_checked", "hedged", "kept")
    assert len(read_csv(tmp_path / "out/radgenome_files/train_vqa_location.csv")) == 1


def test_distrusted_negation_is_never_a_contradiction(release: Path, tmp_path: Path) -> None:
    report = ("Ground glass areas in both lungs. Although the appearance is not typical, viral pneumonia cannot "
              "be excluded.", "")
    write_table(release, "vqa_location", [(V1, "lung", "viral pneumonia")])
    audit = _audit(release, tmp_path, {V1: report})
    assert audit[("train_vqa_location.csv", 1)]["verdict"] == "not_checked"


def test_no_row_supported_and_contradicted(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_presence", [
        (V1, "trachea and bronchie", "occlusive pathology", "No."),
        (V1, "lung", "nodule", "No."),
        (V1, "pleura", "pleural effusion", "No."),
    ])
    audit = _audit(release, tmp_path, {V1: REPORT_1})
    assert audit[("train_vqa_presence.csv", 1)]["verdict"] == "supported"
    nodule = audit[("train_vqa_presence.csv", 2)]
    assert (nodule["verdict"], nodule["reason"], nodule["action"]) == ("contradicted", "stated_present", "removed")
    assert audit[("train_vqa_presence.csv", 3)]["verdict"] == "supported"


def test_unsupported_row_is_kept_and_queued(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [(V1, "bone", "osteophytes")])
    audit = _audit(release, tmp_path, {V1: REPORT_1}, review=True)
    row = audit[("train_vqa_location.csv", 1)]
    assert (row["verdict"], row["reason"], row["action"]) == ("unsupported", "not_in_report", "kept")
    queue = read_csv(tmp_path / "out/review_queue.csv")
    assert [(q["file"], q["row"], q["verdict"], q["proposed_action"]) for q in queue] == [
        ("train_vqa_location.csv", "1", "unsupported", "review")]
    assert queue[0]["report_findings"].startswith("Heart contour")


def test_missed_stated_negative_is_added_as_no_row(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_presence", [
        (V1, "trachea and bronchie", "occlusive pathology", "No."),
        (V1, "lung/lung/right lung", "nodule", "Yes."),
    ])
    _audit(release, tmp_path, {V1: REPORT_1})
    rows = read_csv(tmp_path / "out/radgenome_files/train_vqa_presence.csv")
    added = [r for r in rows[2:]]
    assert {(r["Anatomy"], r["Finding"], r["Presence"]) for r in added} >= {
        ("pleura", "pleural effusion", "No."), ("heart", "pericardial effusion", "No.")}
    assert all(r["Volumename"] == V1 for r in added)
    # what the release already states is not added twice
    assert not any("occlusive" in r["Finding"] for r in added)
    changes = read_csv(tmp_path / "out/changes.csv")
    assert {c["action"] for c in changes} == {"added"}
    assert all(c["reason"] == "missed_stated_negative" and c["row"] == "" for c in changes)


def test_sizes_are_normalised_and_checked(release: Path, tmp_path: Path) -> None:
    report = ("A 14mm nodule is observed in the left lung upper lobe (series 2, image 170 in the left lung). "
              "A hypodense lesion of 2 cm is observed in the liver.", "")
    write_table(release, "vqa_size", [
        (V1, "lung/lung/left lung", "nodule", "14mm"),
        (V1, "lung/lung/left lung", "nodule", "170 in"),
        (V1, "abdomen/abdomen/liver", "hypodense lesion", "2 mm"),
        (V2, "abdomen/abdomen/liver", "cyst", "1.5 cm"),
    ])
    audit = _audit(release, tmp_path, {V1: report})
    assert audit[("train_vqa_size.csv", 1)]["verdict"] == "supported"
    bad = audit[("train_vqa_size.csv", 2)]
    assert (bad["verdict"], bad["reason"], bad["action"]) == ("contradicted", "size_not_a_length", "removed")
    unit = audit[("train_vqa_size.csv", 3)]
    assert (unit["verdict"], unit["reason"], unit["action"], unit["after"]) == ("contradicted", "size_unit", "fixed",
                                                                                "2 cm")
    assert audit[("train_vqa_size.csv", 4)]["reason"] == "no_report"
    rows = read_csv(tmp_path / "out/radgenome_files/train_vqa_size.csv")
    assert [(r["Size"], r["size_mm"]) for r in rows] == [("14mm", "14"), ("2 cm", "20"), ("1.5 cm", "15")]


def test_volume_without_report_is_listed_not_guessed(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_abnormality", [(V2, "heart", "pericardial effusion"), (V1, "heart", "no findings")])
    csv_path = write_reports(tmp_path / "reports.csv", {V1: REPORT_1})
    result = run_audit(release, csv_path, tmp_path / "out")
    audit = {int(r["row"]): r for r in read_csv(tmp_path / "out/audit.csv")}
    assert (audit[1]["verdict"], audit[1]["reason"], audit[1]["action"]) == ("not_checked", "no_report", "kept")
    assert audit[2]["verdict"] == "supported"
    assert result.volumes_without_report == [V2]
    assert result.summary["volumes"]["without_report"] == 1
    assert result.complete  # a missing report is not an unreadable row


def test_impression_only_report_never_calls_a_row_unsupported(release: Path, tmp_path: Path) -> None:
    write_table(release, "vqa_location", [
        (V1, "bone", "osteophytes"),
        (V1, "lung/lung/right lung", "nodule"),
        (V1, "heart", "cardiomegaly"),
    ])
    audit = _audit(release, tmp_path, {V1: ("", "Nodule in the right lung. No cardiomegaly.")})
    assert audit[("train_vqa_location.csv", 1)]["verdict"] == "not_checked"
    assert audit[("train_vqa_location.csv", 1)]["reason"].startswith("no_findings_section")
    assert audit[("train_vqa_location.csv", 2)]["verdict"] == "supported"
    assert audit[("train_vqa_location.csv", 3)]["verdict"] == "contradicted"


def test_case_disorders(release: Path, tmp_path: Path) -> None:
    write_table(release, "case_disorders", [
        (V1, "pulmonary nodule, pericardial effusion, gout"),
        (V2, "pericardial effusion"),
    ])
    audit = _audit(release, tmp_path, {V1: REPORT_1, V2: ("Pericardial effusion was not observed.", "")})
    one = audit[("train_case_disorders.csv", 1)]
    assert one["verdict"] == "contradicted" and one["after"] == "pulmonary nodule, gout"
    assert "gout: unsupported" in one["detail"]
    two = audit[("train_case_disorders.csv", 2)]
    assert (two["action"], two["after"]) == ("fixed", "no findings")


def test_region_report_sentences(release: Path, tmp_path: Path) -> None:
    write_table(release, "region_report", [
        (V1, "heart", "Heart contour and size are normal. Pericardial effusion was not observed."),
        (V1, "lung", "There is a 5 mm nodule in the right lung lower lobe. A sentence the report never wrote."),
        (V1, "lung/lung/left lung", "There is a 5 mm nodule in the right lung lower lobe."),
    ], split="validation")
    audit = _audit(release, tmp_path, {V1: REPORT_1})
    assert audit[("validation_region_report.csv", 1)]["verdict"] == "supported"
    two = audit[("validation_region_report.csv", 2)]
    assert (two["verdict"], two["reason"]) == ("unsupported", "sentence_not_in_report")
    three = audit[("validation_region_report.csv", 3)]
    assert (three["verdict"], three["reason"], three["action"]) == ("contradicted", "other_side", "removed")


def test_stated_in_the_region_but_not_at_the_path_is_unsupported(release: Path, tmp_path: Path) -> None:
    report = ("Millimetric nodules are observed in the right lung lower lobe.", "")
    write_table(release, "vqa_location", [(V1, "lung/lung/lung upper lobe/right lung upper lobe", "nodules")])
    audit = _audit(release, tmp_path, {V1: report})
    row = audit[("train_vqa_location.csv", 1)]
    assert (row["verdict"], row["reason"], row["action"]) == ("unsupported", "not_stated_at_path", "kept")


def test_thoracic_aorta_backs_the_aorta_path_but_not_the_abdomen(release: Path, tmp_path: Path) -> None:
    report = ("Calcific atheroma plaques are observed in the thoracic aorta. "
              "The liver is normal. Calcified plaques are observed in the abdominal aorta.", "")
    write_table(release, "vqa_location", [
        (V1, "abdomen/abdomen/aorta", "calcific atheroma plaques"),  # RadGenome's aorta mask: backed
        (V1, "abdomen", "calcific atheroma plaques"),  # the abdomen region: the thoracic aorta is no abdomen
        (V1, "abdomen", "calcified plaques"),  # named abdominal: backed
        (V1, "mediastinum", "calcific atheroma plaques"),
    ])
    audit = _audit(release, tmp_path, {V1: report})
    assert [audit[("train_vqa_location.csv", i)]["verdict"] for i in (1, 2, 3, 4)] == [
        "supported", "unsupported", "supported", "supported"]


def test_subpleural_lung_findings_are_not_pleura_findings(release: Path, tmp_path: Path) -> None:
    report = ("Pleural effusion reaching 5 cm on the right and compression atelectasis in the adjacent lung. "
              "Subpleural ground glass densities in the right lung lower lobe.", "")
    write_table(release, "vqa_location", [
        (V1, "pleura", "pleural effusion"),
        (V1, "pleura", "compression atelectasis"),
        (V1, "pleura", "subpleural ground glass densities"),
        (V1, "lung", "subpleural ground glass densities"),
    ])
    audit = _audit(release, tmp_path, {V1: report})
    assert [audit[("train_vqa_location.csv", i)]["verdict"] for i in (1, 2, 3, 4)] == [
        "supported", "unsupported", "unsupported", "supported"]

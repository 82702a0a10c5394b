"""Corpus discovery: CT-RATE layout with and without _fixed, reconstructions, orphans, duplicates, bad rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from radgenome.corpus.layout import CorpusError, discover_corpus, reconstruction_key

HEADER = ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"]


def _reports(path: Path, names: list[str], extra_lines: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for n in names:
            w.writerow([n, "", "", f"Findings of {n}. The lungs are clear.", "Normal."])
    if extra_lines:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(extra_lines)


def _volume(ds: Path, split_dir: str, name: str) -> Path:
    stem = name.removesuffix(".nii.gz")
    patient = stem.rsplit("_", 2)[0]
    scan = stem.rsplit("_", 1)[0]
    p = ds / split_dir / patient / scan / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"not read during discovery")
    return p


@pytest.mark.parametrize("fixed", ["_fixed", ""])
def test_ctrate_layout_pairs_by_stem(tmp_path: Path, fixed: str) -> None:
    ds = tmp_path / "dataset"
    _reports(ds / "radiology_text_reports" / "train_reports.csv", ["train_1_a_1.nii.gz", "train_1_a_2.nii.gz",
                                                                   "train_2_a_1.nii.gz", "train_9_a_1.nii.gz"])
    _reports(ds / "radiology_text_reports" / "validation_reports.csv", ["valid_1_a_1.nii.gz"])
    for n in ("train_1_a_1.nii.gz", "train_1_a_2.nii.gz", "train_2_a_1.nii.gz", "train_3_a_1.nii.gz"):
        _volume(ds, f"train{fixed}", n)
    _volume(ds, f"valid{fixed}", "valid_1_a_1.nii.gz")
    (ds / "metadata").mkdir()
    (ds / "metadata" / "train_metadata.csv").write_text("VolumeName,RescaleSlope,RescaleIntercept\n"
                                                         "train_1_a_1.nii.gz,1,-1024\n")
    (ds / "multi_abnormality_labels").mkdir()
    (ds / "multi_abnormality_labels" / "train_predicted_labels.csv").write_text("VolumeName\n")

    first = discover_corpus(tmp_path)
    assert [c.stem for c in first.cases] == ["train_1_a_1", "train_2_a_1", "valid_1_a_1"]
    assert first.skipped_reconstructions == ["train_1_a_2"]
    assert [i.volume for i in first.issues_of("report_without_volume")] == ["train_9_a_1.nii.gz"]
    assert [i.volume for i in first.issues_of("volume_without_report")] == ["train_3_a_1"]
    assert first.cases[0].metadata is not None and first.cases[0].metadata.rescale_intercept == -1024
    assert first.cases[0].volume_path is not None and first.cases[0].volume_path.name == "train_1_a_1.nii.gz"
    assert len(first.label_files) == 1 and len(first.metadata_files) == 1

    every = discover_corpus(tmp_path / "dataset", reconstructions="all")  # dataset/ itself works as root
    assert [c.stem for c in every.cases] == ["train_1_a_1", "train_1_a_2", "train_2_a_1", "valid_1_a_1"]
    assert every.skipped_reconstructions == []


def test_fixed_release_supersedes_plain(tmp_path: Path) -> None:
    ds = tmp_path / "dataset"
    _reports(ds / "radiology_text_reports" / "train_reports.csv", ["train_1_a_1.nii.gz"])
    plain = _volume(ds, "train", "train_1_a_1.nii.gz")
    fixed = _volume(ds, "train_fixed", "train_1_a_1.nii.gz")
    c = discover_corpus(tmp_path)
    assert c.cases[0].volume_path == fixed != plain
    assert not c.issues


def test_explicit_inputs_duplicates_and_bad_rows(tmp_path: Path) -> None:
    rep = tmp_path / "r.csv"
    bad = 'c.nii.gz,"x",y,z,w,too,many\n,,,,\n"d.nii.gz,broken\n'
    _reports(rep, ["a.nii.gz", "b.nii.gz", "a.nii.gz"], extra_lines=bad)
    vols = tmp_path / "vols"
    (vols / "x").mkdir(parents=True)
    (vols / "x" / "a.nii.gz").write_bytes(b"")
    (vols / "b.nii").write_bytes(b"")
    (vols / "x" / "b.nii.gz").write_bytes(b"")  # same stem as b.nii: a duplicate volume
    c = discover_corpus(reports=[rep], volumes=[vols])
    kinds = sorted(i.kind for i in c.issues)
    assert "duplicate_volume" in kinds and "unreadable_row" in kinds
    dup_reports = [i for i in c.issues if i.kind == "duplicate_volume" and i.volume == "a.nii.gz"]
    assert dup_reports and "row 3" in dup_reports[0].source
    assert {x.stem for x in c.cases} <= {"a", "b"} and "a" in {x.stem for x in c.cases}
    assert all(i.reason for i in c.issues)


def test_text_only_needs_no_volumes(tmp_path: Path) -> None:
    rep = tmp_path / "r.csv"
    _reports(rep, ["p1.nii.gz", "p2.nii.gz"])
    c = discover_corpus(reports=[rep], text_only=True)
    assert [x.stem for x in c.cases] == ["p1", "p2"] and not c.issues
    c = discover_corpus(reports=[rep])
    assert not c.cases and len(c.issues_of("report_without_volume")) == 2


def test_no_reports_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no reports table"):
        discover_corpus(tmp_path)
    with pytest.raises(CorpusError):
        discover_corpus(reports=[tmp_path / "missing.csv"])


def test_reconstruction_key() -> None:
    assert reconstruction_key("train_12_b_3") == ("train_12_b", 3)
    assert reconstruction_key("patient-7") is None

"""Entries named like volumes that are not regular files are reported with their reason (never opened), and the
report whose volume they stand for says why it has no usable volume."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from radgenome.corpus.inputs import discover_inputs
from radgenome.corpus.layout import discover_corpus

HEADER = "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n"


def test_fifo_folder_and_dangling_link_named_like_volumes(h: Any, tmp_path: Path) -> None:
    vols = tmp_path / "vols"
    vols.mkdir()
    hu, _ = h.chest_ras()
    h.write_nifti(vols / "good_1.nii.gz", hu, h.ras_affine())
    os.mkfifo(vols / "fifo_1.nii.gz")
    (vols / "dir_1.nii.gz").mkdir()
    (vols / "link_1.nii.gz").symlink_to(vols / "nowhere.nii.gz")
    cases, problems = discover_inputs([vols])
    assert [c.stem for c in cases] == ["good_1"] and cases[0].root == vols
    reasons = {p.stem: p.message for p in problems}
    assert "FIFO" in reasons["fifo_1"] and "folder" in reasons["dir_1"] and "dangling" in reasons["link_1"]
    # the same entries given directly
    _, direct = discover_inputs([vols / "fifo_1.nii.gz", vols / "link_1.nii.gz"])
    assert ["FIFO" in direct[0].message, "dangling" in direct[1].message] == [True, True]

    reports = tmp_path / "reports.csv"
    reports.write_text(HEADER + "".join(f"{s}.nii.gz,,,Heart normal.,\n" for s in
                                        ("good_1", "fifo_1", "dir_1", "link_1", "absent_1")))
    corpus = discover_corpus(reports=[reports], volumes=[vols])
    assert [c.stem for c in corpus.cases] == ["good_1"]
    assert corpus.cases[0].volume_anchor == vols
    missing = {i.volume: i.reason for i in corpus.issues if i.kind == "report_without_volume"}
    assert "FIFO" in missing["fifo_1.nii.gz"] and "folder" in missing["dir_1.nii.gz"]
    assert "dangling" in missing["link_1.nii.gz"] and missing["absent_1.nii.gz"].startswith("no volume absent_1")
    assert {i.volume for i in corpus.issues if i.kind == "unreadable_input"} == {"fifo_1", "dir_1", "link_1"}


def test_fifo_metadata_is_an_issue_not_a_hang(tmp_path: Path) -> None:
    reports = tmp_path / "reports.csv"
    reports.write_text(HEADER + "a_1,,,Heart normal.,\n")
    os.mkfifo(tmp_path / "meta.csv")
    corpus = discover_corpus(reports=[reports], metadata=[tmp_path / "meta.csv"], text_only=True)
    assert [i.kind for i in corpus.issues] == ["unreadable_metadata"] and "FIFO" in corpus.issues[0].reason

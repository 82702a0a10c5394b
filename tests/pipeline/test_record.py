from __future__ import annotations

from pathlib import Path

from radgenome.dataset.tables import volume_rows
from radgenome.model import Report
from radgenome.pipeline.record import (
    CaseFlag,
    MaskLink,
    analysis_from_record,
    read_record,
    record_from_analysis,
    write_record,
)
from radgenome.text.engine import RulesBackend


def test_record_round_trip_keeps_every_table_row(tmp_path: Path) -> None:
    report = Report(
        volume="valid_3_a_1.nii.gz",
        findings="A 6x4 mm nodule in the right lung upper lobe. No pleural or pericardial effusion was detected.",
        impressions=" Nodule.",
        row=3,
    )
    analysis = RulesBackend().analyze(report)
    rec = record_from_analysis(
        analysis,
        stem="valid_3_a_1",
        split="validation",
        node_masks={"right lung upper lobe": MaskLink(node="right lung upper lobe", status="ok", voxels=10)},
        flags=[CaseFlag(kind="empty_mask", node="heart", sentence_index=1)],
    )
    path = tmp_path / "cases" / "valid_3_a_1.json"
    write_record(rec, path)
    back = read_record(path)
    assert back == rec
    rebuilt = analysis_from_record(back)
    assert volume_rows(rebuilt) == volume_rows(analysis)
    assert [s.text for s in rebuilt.sentences] == [s.text for s in analysis.sentences]
    assert not list(path.parent.glob(".*"))  # no temp files left


def test_atomic_writes_use_normal_permissions(tmp_path: Path) -> None:
    import os

    from radgenome.atomic import FILE_MODE, atomic_write_text

    target = tmp_path / "x.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert os.stat(target).st_mode & 0o777 == FILE_MODE
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]

"""The case record: typed all the way down, one JSON form, written atomically, read back exactly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from radgenome.atomic import FILE_MODE, atomic_write_text
from radgenome.dataset.tables import volume_rows
from radgenome.model import (
    CaseFlag,
    CaseProvenance,
    CaseRecord,
    MaskLink,
    MaskRef,
    RecordError,
    Report,
    read_record,
    write_record,
)
from radgenome.text.engine import RulesBackend


def _record() -> CaseRecord:
    report = Report(
        volume="valid_3_a_1.nii.gz",
        findings="A 6x4 mm nodule in the right lung upper lobe. No pleural or pericardial effusion was detected.",
        impressions=" Nodule.",
        row=3,
    )
    return CaseRecord(
        stem="valid_3_a_1",
        split="validation",
        analysis=RulesBackend().analyze(report),
        volume_path="/data/valid_3_a_1.nii.gz",
        masks=MaskRef(labelmap="masks/valid_3_a_1.nii.gz", sidecar="masks/valid_3_a_1.json", backend="classical",
                      version="1", settings={"space": "native", "step_mm": 1.5}),
        node_masks={"right lung upper lobe": MaskLink(node="right lung upper lobe", status="ok", voxels=10,
                                                      structures=["right lung upper lobe"])},
        flags=[CaseFlag(kind="empty_mask", node="heart", sentence_index=1)],
        provenance=CaseProvenance(seg_backend="classical", seg_version="1", seg_settings={"space": "native"},
                                  radgenome_version="0.1.0", input_fingerprint="abc", report_row=3,
                                  seg_warnings=["input: uneven spacing"]),
        timings={"load": 0.1, "segment": 1.25, "text": 0.00005, "link": 0.0, "write": 0.2},
    )


def test_record_round_trip_keeps_every_table_row(tmp_path: Path) -> None:
    rec = _record()
    path = tmp_path / "cases" / "valid_3_a_1.json"
    write_record(rec, path)
    back = read_record(path)
    assert back == rec
    assert back.analysis.sentences == rec.analysis.sentences  # Sentence objects, not dicts
    assert volume_rows(back.analysis) == volume_rows(rec.analysis)
    assert path.read_bytes() == back.to_json()  # one JSON form: reading and writing again gives the same bytes
    assert not list(path.parent.glob(".*"))  # no temp files left


def test_json_layout_is_the_documented_one() -> None:
    d = json.loads(_record().to_json())
    assert list(d) == ["schema_version", "volume", "stem", "split", "volume_path", "report", "sentences",
                       "disorders", "labels", "masks", "node_masks", "flags", "provenance", "timings"]
    assert d["volume"] == d["report"]["volume"] == "valid_3_a_1.nii.gz"
    assert list(d["provenance"]) == ["text_backend", "text_version", "seg_backend", "seg_version", "seg_settings",
                                     "radgenome_version", "input_fingerprint", "report_row", "seg_warnings"]
    first = d["sentences"][0]
    assert list(first) == ["section", "index", "text", "start", "end", "marker", "nodes", "node_paths",
                           "grounding_confidence",
                           "polarity", "findings", "measurements", "flags", "backend"]
    text_only = CaseRecord(stem="x", split="train", analysis=_record().analysis)
    prov = json.loads(text_only.to_json())["provenance"]
    assert prov["seg_backend"] is None and "seg_version" not in prov and "volume_missing" not in prov


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("sentences"),
        lambda d: d.update(schema_version=2),
        lambda d: d["node_masks"]["right lung upper lobe"].update(status="fine"),
        lambda d: d["provenance"].update(surprise=1),
        lambda d: d.update(volume="someone else"),
    ],
)
def test_a_damaged_record_is_an_error_naming_the_file(tmp_path: Path, damage: object) -> None:
    d = json.loads(_record().to_json())
    damage(d)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(RecordError, match=r"bad\.json"):
        read_record(path)


def test_truncated_record_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_bytes(_record().to_json()[:100])
    with pytest.raises(ValueError, match=r"cut\.json"):
        read_record(path)


def test_atomic_writes_use_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert os.stat(target).st_mode & 0o777 == FILE_MODE
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]

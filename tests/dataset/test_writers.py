"""finalize_build: every contract file, exact columns, byte-identical re-runs, RadGenome layout."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from radgenome.dataset.schemas import QA_SCHEMA, SENTENCE_SCHEMA
from radgenome.dataset.tables import TABLE_COLUMNS, write_radgenome_tables
from radgenome.dataset.writers import finalize_build
from radgenome.model import CaseRecord, OutputLayout, write_record
from radgenome.text.engine import RulesBackend

Built = tuple[Path, list[CaseRecord]]
SENTENCES_FILE, QA_FILE = OutputLayout.GROUNDED_SENTENCES, OutputLayout.QA_PAIRS


def _bytes(out: Path) -> dict[str, bytes]:
    files = sorted([*out.glob("radgenome_files/*.csv"), *out.glob("dataset/*.parquet")])
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def test_contract_files_and_columns(built: Built) -> None:
    out, _ = built
    for split in ("train", "validation"):
        for name, columns in TABLE_COLUMNS.items():
            path = out / "radgenome_files" / f"{split}_{name}.csv"
            with path.open(encoding="utf-8", newline="") as fh:
                assert tuple(next(csv.reader(fh))) == columns
    assert pq.read_schema(out / SENTENCES_FILE).names == SENTENCE_SCHEMA.names
    assert pq.read_schema(out / QA_FILE).names == QA_SCHEMA.names
    assert not list(out.rglob(".*.parquet*")), "temporary files left behind"


def test_csvs_identical_to_text_command(built: Built, tmp_path: Path) -> None:
    """The CSVs equal what `radgenome text` writes for the same reports (same analyses, same writer)."""
    out, records = built
    backend = RulesBackend()
    analyses = [backend.analyze(rec.report) for rec in records]
    write_radgenome_tables(analyses, tmp_path / "text", "train")
    for path in sorted((tmp_path / "text").glob("*.csv")):
        assert (out / "radgenome_files" / path.name).read_bytes() == path.read_bytes(), path.name
    for rec in records:
        assert rec.analysis.sentences == backend.analyze(rec.report).sentences


def test_rerun_is_byte_identical(built: Built) -> None:
    out, records = built
    before = _bytes(out)
    finalize_build(out, records, seed=0)
    assert _bytes(out) == before


def test_seed_changes_only_questions(built: Built) -> None:
    out, records = built
    base = pq.read_table(out / QA_FILE).to_pylist()
    finalize_build(out, records, seed=7)
    other = pq.read_table(out / QA_FILE).to_pylist()
    finalize_build(out, records, seed=0)
    assert [(r["kind"], r["answer"], r["path"]) for r in base] == [(r["kind"], r["answer"], r["path"]) for r in other]
    assert [r["question"] for r in base] != [r["question"] for r in other]


def test_sentence_rows_reference_masks(built: Built) -> None:
    out, records = built
    rows = pq.read_table(out / SENTENCES_FILE).to_pylist()
    assert {r["volume"] for r in rows} == {rec.volume for rec in records}
    for row in rows:
        assert len(row["masks"]) == len(row["nodes"])
        for ref in row["masks"]:
            if row["labelmap"] is None:
                assert ref["status"] == "not_segmented" and ref["labelmap"] is None
            elif ref["status"] == "ok":
                assert ref["labelmap"] == row["labelmap"] and ref["voxels"] > 0
                assert (out / ref["labelmap"]).exists()
            else:
                assert ref["labelmap"] is None
        assert set(row["node_paths"]) <= set(row["paths"])
        assert row["text_backend"] == "rules" and row["radgenome_version"]
    pleura = [r for r in rows if r["nodes"] == ["pleura"] and r["labelmap"]]
    assert pleura and all("empty_mask: pleura has no mask" in r["flags"] for r in pleura)


def test_radgenome_layout(make_records: Callable[[], Built]) -> None:
    out, records = make_records()
    written = finalize_build(out, records[:1], radgenome_layout=True).outputs
    seg = out / f"seg_{records[0].stem}"
    assert written[seg.name] == seg
    names = {p.name for p in seg.glob("*.nii.gz")}
    assert {"lung.nii.gz", "left lung upper lobe.nii.gz", "heart.nii.gz"} <= names
    import nibabel as nib

    img = nib.load(seg / "lung.nii.gz")
    assert img.header.get_zooms()[:3] == pytest.approx((1.0, 1.0, 3.0))
    assert img.get_fdata().sum() > 0
    mtime = (seg / "lung.nii.gz").stat().st_mtime_ns
    finalize_build(out, records[:1], radgenome_layout=True)
    assert (seg / "lung.nii.gz").stat().st_mtime_ns == mtime, "unchanged label map: layout not rewritten"
    labelmap = out / str(records[0].masks.labelmap)
    st = labelmap.stat()
    os.utime(labelmap, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # as if the case were rebuilt
    finalize_build(out, records[:1], radgenome_layout=True)
    assert (seg / "lung.nii.gz").stat().st_mtime_ns != mtime
    assert not list(out.glob(".seg_*")), "no temporary layout folder left"


def test_identical_across_processes_with_different_hash_salts(built: Built, tmp_path: Path) -> None:
    """The pipeline re-runs finalize_build in a new process after a resume: no set/dict-order dependence."""
    out, records = built
    paths = []
    for i, rec in enumerate(records):
        paths.append(tmp_path / f"{i}.json")
        write_record(rec, paths[-1])
    code = (
        "import sys; from pathlib import Path; from radgenome.model import read_record; "
        "from radgenome.dataset.writers import finalize_build; "
        "finalize_build(Path(sys.argv[1]), [read_record(Path(p)) for p in sys.argv[2:]], seed=0)"
    )
    finalize_build(out, records, seed=0)
    reference = _bytes(out)
    for salt in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", code, str(out), *map(str, paths)],
            env={**os.environ, "PYTHONHASHSEED": salt},
            check=True,
        )
        assert _bytes(out) == reference


def test_no_records(tmp_path: Path) -> None:
    written = finalize_build(tmp_path, []).outputs
    assert set(written) == {SENTENCES_FILE, QA_FILE}
    assert pq.read_table(tmp_path / QA_FILE).num_rows == 0
    assert pq.read_schema(tmp_path / QA_FILE).names == QA_SCHEMA.names

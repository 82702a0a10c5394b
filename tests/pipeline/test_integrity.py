"""A build at the edges: the output lock, stale temp files, resume re-validation, a corrupt manifest, OUT entries of
the wrong kind, a full disk, unsafe VolumeNames, formula cells, and paths that work from any folder."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radgenome.csvcells import FORMULA_START, is_formula_cell, unescape_cell
from radgenome.dataset.torch_dataset import RadGenomeDataset
from radgenome.model import BuildSummary, OutputLayout
from radgenome.pipeline.build import BuildError
from radgenome.pipeline.lock import OutputLock

HEADER = ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"]
Run = Callable[..., BuildSummary]


def reports_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


def good_rows(n: int = 3) -> list[list[str]]:
    return [[f"train_{i}_a_1.nii.gz", "", "", "A 5 mm nodule in the right lung upper lobe. Heart normal.", "Nodule."]
            for i in range(1, n + 1)]


def csv_cells(out: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(out.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    yield path, cell


# --------------------------------------------------------------------------------------------------- lock
def test_a_second_build_into_the_same_out_says_who_holds_it(tmp_path: Path, run: Run) -> None:
    reports = reports_csv(tmp_path / "r.csv", good_rows(1))
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(OutputLayout(out).lock, command="the first build"):
        with pytest.raises(BuildError) as info:
            run(out, reports=[reports], text_only=True)
        message = str(info.value)
        assert str(out) in message and f"pid {os.getpid()} on host {os.uname().nodename}" in message
        assert "the first build" in message
        assert not (out / "cases").exists()  # nothing written by the refused build
    assert run(out, reports=[reports], text_only=True).exit_code == 0  # released: the next build runs


# ------------------------------------------------------------------------------------------- stale temps
def test_temp_files_of_killed_writes_are_removed_at_start(tmp_path: Path, run: Run) -> None:
    reports = reports_csv(tmp_path / "r.csv", good_rows(2))
    out = tmp_path / "out"
    assert run(out, reports=[reports], text_only=True).exit_code == 0
    stale = [out / "cases" / ".train_1_a_1.json.k3j9x0q1.tmp",
             out / "radgenome_files" / ".train_vqa_size.csv.ab12cd34.tmp",
             out / "dataset" / ".qa_pairs.parquet.zz99yy88.tmp", out / ".summary.json.qwertyui.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    (out / ".seg_train_1_a_1.abcdefgh.tmp").mkdir()
    (out / "cases" / ".keep").write_text("a user's file")
    res = run(out, reports=[reports], text_only=True)
    assert res.exit_code == 0 and res.skipped == 2
    assert not any(p.exists() for p in stale) and not (out / ".seg_train_1_a_1.abcdefgh.tmp").exists()
    assert (out / "cases" / ".keep").exists()
    assert any("removed 5 temporary file(s)" in n for n in res.notices)


# ------------------------------------------------------------------------------- resume re-validation
def test_resume_rebuilds_what_fails_its_check_and_paths_stay_one_kind(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Run, tables: Callable[[Path], dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = corpus_factory(4)
    monkeypatch.chdir(tmp_path)  # first build by relative paths ...
    first = run(Path("out"), Path(os.path.relpath(root, tmp_path)))
    assert first.exit_code == 0 and first.done == 4
    out = tmp_path / "out"
    before = tables(out)
    stems = sorted(p.stem for p in (out / "cases").glob("*.json"))
    layout = OutputLayout(out)
    rec = layout.case_record(stems[0])
    rec.write_bytes(rec.read_bytes()[:200])  # a truncated record
    lm = layout.labelmap(stems[1])
    lm.write_bytes(lm.read_bytes()[:-100])  # a truncated label map: sizes differ from the manifest
    garbage = layout.labelmap(stems[2])
    garbage.write_bytes(b"\x00" * garbage.stat().st_size)  # same size, header unreadable
    with sqlite3.connect(out / "manifest.sqlite") as db:
        sizes = dict(db.execute("SELECT stem, sizes FROM cases").fetchall())
    assert all(json.loads(sizes[s])["record"] > 0 for s in stems)

    monkeypatch.chdir(root)  # ... resumed by an absolute one, from another folder
    res = run(out.resolve(), root.resolve())
    assert res.exit_code == 0 and res.done == 3 and res.skipped == 1
    notice = next(n for n in res.notices if "failed their check" in n)
    assert all(s in notice for s in stems[:3])
    assert tables(out) == before  # byte-identical: same records, same paths
    vp = {json.loads(layout.case_record(s).read_bytes())["volume_path"] for s in stems}
    assert all(p.startswith("../") and not os.path.isabs(p) for p in vp)


def test_a_corrupt_manifest_is_moved_aside_and_rebuilt_from_the_records(tmp_path: Path, run: Run) -> None:
    reports = reports_csv(tmp_path / "r.csv", good_rows(2))
    out = tmp_path / "out"
    run(out, reports=[reports], text_only=True)
    (out / "manifest.sqlite").write_bytes(b"this is not a database" * 100)
    res = run(out, reports=[reports], text_only=True)
    assert res.exit_code == 0 and res.skipped == 2 and res.done == 0
    assert any("not a readable manifest" in n for n in res.notices)
    assert len(list(out.glob("manifest.sqlite.corrupt-*"))) == 1
    with sqlite3.connect(out / "manifest.sqlite") as db:
        assert db.execute("SELECT count(*) FROM cases WHERE status='done'").fetchone()[0] == 2


# ----------------------------------------------------------------------------------------- wrong kinds
@pytest.mark.parametrize(
    ("entry", "make"),
    [("cases", "file"), ("masks", "file"), ("radgenome_files", "file"), ("dataset", "file"),
     ("summary.json", "folder"), ("report.html", "folder"), ("build.log", "folder"), ("manifest.sqlite", "folder")],
)
def test_out_entries_of_the_wrong_kind_are_one_fatal_error(tmp_path: Path, run: Run, entry: str, make: str) -> None:
    reports = reports_csv(tmp_path / "r.csv", good_rows(1))
    out = tmp_path / "out"
    out.mkdir()
    (out / entry).mkdir() if make == "folder" else (out / entry).write_text("x")
    with pytest.raises(BuildError, match=rf"{entry}: must be a {'file' if make == 'folder' else 'folder'}"):
        run(out, reports=[reports], text_only=True)
    from radgenome.cli import app

    res = CliRunner().invoke(app, ["build", "--reports", str(reports), "-o", str(out), "--text-only",
                                   "--no-progress"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    fatal = [line for line in res.output.splitlines() if line.startswith("fatal:")]
    assert len(fatal) == 1 and str(out / entry) in fatal[0]


# -------------------------------------------------------------------------------------------- full disk
@contextmanager
def _no_space(path: Path) -> Iterator[Path]:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    yield path  # pragma: no cover


def test_a_full_disk_while_writing_the_tables_is_one_fatal_line(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import radgenome.dataset.tables as tables_mod

    reports = reports_csv(tmp_path / "r.csv", good_rows(2))
    out = tmp_path / "out"
    monkeypatch.setattr(tables_mod, "atomic_path", _no_space)
    with pytest.raises(BuildError, match=r"train_region_report\.csv: no space left on device"):
        run(out, reports=[reports], text_only=True)
    assert "no space left on device" in (out / "build.log").read_text()
    from radgenome.cli import app

    res = CliRunner().invoke(app, ["build", "--reports", str(reports), "-o", str(out), "--text-only",
                                   "--no-progress"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert [line for line in res.output.splitlines() if line.startswith("fatal:")] == [
        f"fatal: {out / 'radgenome_files' / 'train_region_report.csv'}: no space left on device"]
    res = CliRunner().invoke(app, ["text", str(reports), "-o", str(tmp_path / "text")])
    assert res.exit_code == 1 and "Traceback" not in res.output and "no space left on device" in res.output


def test_a_full_disk_while_writing_a_case_fails_that_case_only(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import radgenome.model.record as record_mod

    reports = reports_csv(tmp_path / "r.csv", good_rows(3))
    original = record_mod.atomic_write_bytes

    def full_for_two(path: Any, data: bytes, **kw: Any) -> None:
        if "train_2_a_1" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        original(path, data, **kw)

    monkeypatch.setattr(record_mod, "atomic_write_bytes", full_for_two)
    res = run(tmp_path / "out", reports=[reports], text_only=True)
    assert res.exit_code == 3 and res.done == 2 and [f.volume for f in res.failures] == ["train_2_a_1"]
    assert "No space left on device" in res.failures[0].reason and res.failures[0].stage == "write"


# ---------------------------------------------------------------------------------- names and formula cells
def test_unsafe_volume_names_fail_alone_and_no_output_cell_is_a_formula(tmp_path: Path, run: Run) -> None:
    bad = ["x\x00y.nii.gz", "v" * 300 + ".nii.gz", "../escape.nii.gz", "a/b.nii.gz", "=cmd|' /C calc'!A0",
           "-2+3", "@SUM(1)", ".."]
    formula_texts = [f"{c}HYPERLINK(\"http://x\") Heart normal." for c in FORMULA_START]
    rows = good_rows(1) + [[name, "", "", "Heart normal.", "Normal."] for name in bad]
    rows += [[f"train_{10 + i}_a_1.nii.gz", "", "", text, text] for i, text in enumerate(formula_texts)]
    reports = reports_csv(tmp_path / "r.csv", rows)
    out = tmp_path / "out"
    res = run(out, reports=[reports], text_only=True)
    assert res.exit_code == 3 and res.done == 1 + len(formula_texts)
    invalid = [i for i in res.issues if i.kind == "invalid_volume_name"]
    assert len(invalid) == len(bad) and all(i.reason for i in invalid)
    assert sorted(p.name for p in (out / "cases").iterdir()) == sorted(
        [f"train_{i}_a_1.json" for i in [1, *range(10, 10 + len(formula_texts))]])
    assert not list(tmp_path.glob("escape*")) and not (tmp_path / "a").exists()
    cells = list(csv_cells(out))
    assert cells and not [(p.name, c) for p, c in cells if is_formula_cell(c)]
    # the text is kept exactly: escaped in CSV (our readers undo it), verbatim in Parquet
    whole = [unescape_cell(c) for p, c in cells if p.name == "train_region_report.csv"]
    for text in formula_texts:
        assert " ".join(text.split()) in whole
    parquet = {r["text"] for r in pq.read_table(out / "dataset" / "grounded_sentences.parquet").to_pylist()}
    assert any(t.startswith("=HYPERLINK") for t in parquet)


# ------------------------------------------------------------------------------------- paths and loader
def test_the_loader_works_from_another_folder_and_after_the_corpus_moved(
    corpus_factory: Callable[[int], Path], reference_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nowhere near OUT or the corpus
    ds = RadGenomeDataset(reference_build, "qa", allow_missing_masks=True)
    row = ds.rows[0]
    assert row["volume_path"].startswith("../") and row["volume_corpus_path"].startswith("dataset/")
    item = ds.load_item(0)
    assert item["image"].ndim == 4

    moved_corpus = tmp_path / "elsewhere" / "ctrate"
    shutil.copytree(corpus_factory(4), moved_corpus)
    moved_out = tmp_path / "machine2" / "out"
    shutil.copytree(reference_build, moved_out)
    with pytest.raises(FileNotFoundError, match="corpus_root"):
        RadGenomeDataset(moved_out, "qa", allow_missing_masks=True).load_item(0)
    again = RadGenomeDataset(moved_out, "qa", allow_missing_masks=True, corpus_root=moved_corpus).load_item(0)
    assert (again["image"] == item["image"]).all()


def test_records_of_an_older_version_get_their_paths_rewritten_not_rebuilt(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Run
) -> None:
    root = corpus_factory(1)
    out = tmp_path / "out"
    assert run(out, root).exit_code == 0
    rec_path = next((out / "cases").glob("*.json"))
    data = json.loads(rec_path.read_bytes())
    data["volume_path"] = "rv/corpus/dataset/" + Path(data["volume_path"]).name  # relative to some old cwd
    del data["volume_corpus_path"]
    rec_path.write_text(json.dumps(data))
    with sqlite3.connect(out / "manifest.sqlite") as db:  # an older manifest: no sizes
        db.execute("UPDATE cases SET sizes = NULL")
    res = run(out, root)
    assert res.exit_code == 0 and res.skipped == 1 and res.done == 0 and not res.notices
    fixed = json.loads(rec_path.read_bytes())
    assert fixed["volume_path"].startswith("../") and fixed["volume_corpus_path"].startswith("dataset/")
    rows = pq.read_table(out / "dataset" / "qa_pairs.parquet").to_pylist()
    assert {r["volume_path"] for r in rows} == {fixed["volume_path"]}
    with sqlite3.connect(out / "manifest.sqlite") as db:
        (sizes,) = db.execute("SELECT sizes FROM cases").fetchone()
    assert json.loads(sizes)["record"] == rec_path.stat().st_size


def test_a_record_the_dataset_pass_cannot_use_fails_alone(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import radgenome.dataset.writers as writers_mod

    reports = reports_csv(tmp_path / "r.csv", good_rows(3))
    original = writers_mod.case_qa_pairs

    def broken_for_two(rec: Any, *args: Any, **kw: Any) -> Any:
        if rec.stem == "train_2_a_1":
            raise ValueError("a bug on one odd record")
        return original(rec, *args, **kw)

    monkeypatch.setattr(writers_mod, "case_qa_pairs", broken_for_two)
    out = tmp_path / "out"
    res = run(out, reports=[reports], text_only=True)
    assert res.exit_code == 3 and [(f.volume, f.stage) for f in res.failures] == [("train_2_a_1", "dataset")]
    assert "a bug on one odd record" in res.failures[0].reason
    with (out / "radgenome_files" / "train_case_disorders.csv").open(newline="") as fh:
        assert [r["Volumename"] for r in csv.DictReader(fh)] == ["train_1_a_1.nii.gz", "train_3_a_1.nii.gz"]
    parquet = {r["stem"] for r in pq.read_table(out / "dataset" / "qa_pairs.parquet").to_pylist()}
    assert parquet == {"train_1_a_1", "train_3_a_1"}  # in every table or in none

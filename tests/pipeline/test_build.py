"""`radgenome build` on phantom corpora: contract files, mask statuses, resume, --force, workers, text-only."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from radgenome.model import read_record
from radgenome.pipeline.build import BuildError
from radgenome.synth.phantom import make_phantom, write_phantom_nifti

HEADER = ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"]


Run = Callable[..., Any]
Tables = Callable[[Path], dict[str, bytes]]


def _check_contract(out: Path, stems: list[str], contract: dict[str, tuple[str, ...]]) -> None:
    files = sorted((out / "radgenome_files").glob("*.csv"))
    assert files
    for f in files:
        kind = next(k for k in contract if f.name.endswith(f"_{k}.csv"))
        with f.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert tuple(header[: len(contract[kind])]) == contract[kind], f.name
    for stem in stems:
        assert (out / "masks" / f"{stem}.nii.gz").is_file()
        side = json.loads((out / "masks" / f"{stem}.json").read_text())
        assert {"labels", "backend", "version", "stats"} <= set(side)
        assert (out / "cases" / f"{stem}.json").is_file()
    for name in ("grounded_sentences", "qa_pairs"):
        t = pq.read_table(out / "dataset" / f"{name}.parquet")
        assert t.num_rows > 0 and "volume" in t.schema.names
    assert (out / "report.html").is_file() and (out / "build.log").is_file()
    with sqlite3.connect(out / "manifest.sqlite") as db:
        rows = dict(db.execute("SELECT stem, status FROM cases").fetchall())
    assert {s: rows[s] for s in stems} == dict.fromkeys(stems, "done")


def test_build_phantom_corpus_resume_and_force(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Run, tables: Tables, reference_build: Path,
    contract_columns: dict[str, tuple[str, ...]],
) -> None:
    root = corpus_factory(4)
    out = tmp_path / "out"
    shutil.copytree(reference_build, out)
    stems = sorted(p.name.removesuffix(".nii.gz") for p in root.rglob("*.nii.gz"))
    _check_contract(out, stems, contract_columns)
    for stem in stems:
        rec = read_record(out / "cases" / f"{stem}.json")
        assert set(rec.timings) == {"load", "segment", "text", "link", "write"}
        assert rec.provenance.seg_backend == "classical" and rec.analysis.backend == "rules"
        assert rec.masks.labelmap == f"masks/{stem}.nii.gz"
        grounded = {n for s in rec.sentences for n in s.nodes}
        assert grounded <= set(rec.node_masks)
        for node in ("lung", "heart", "trachea and bronchie"):
            if node in rec.node_masks:
                assert rec.node_masks[node].status == "ok", (stem, node)
        for link in rec.node_masks.values():  # never a dummy mask
            assert (link.status == "ok") == (link.voxels > 0)
            if link.status == "no_structure":
                assert not link.structures
    # the lobe of each phantom nodule is grounded with a non-empty mask
    phantoms = json.loads((root / "phantoms.json").read_text())
    for ph in phantoms:
        if ph["nodule"]:
            rec = read_record(out / "cases" / f"{ph['volume'].removesuffix('.nii.gz')}.json")
            assert rec.node_masks[ph["nodule"][0]].status == "ok"
    first = tables(out)

    again = run(out, root)  # resume: nothing to do, identical tables
    assert again.exit_code == 0 and again.skipped == len(stems) and again.done == 0
    assert tables(out) == first
    forced = run(out, root, force=True)
    assert forced.done == len(stems) and tables(out) == first

    changed = tmp_path / "changed"  # a changed report text re-runs that case only
    shutil.copytree(root, changed)
    reports = changed / "dataset" / "radiology_text_reports" / "validation_reports.csv"
    reports.write_text(reports.read_text().replace("The liver has", "The liver clearly has", 1))
    shutil.rmtree(out / "dataset")
    redo = run(out, changed)
    assert redo.exit_code == 0 and redo.done >= 1
    assert redo.skipped >= len(stems) - redo.done - 1


def test_out_of_view_regions(tmp_path: Path, run: Run) -> None:
    """A scan cut above the thyroid and at the diaphragm: thyroid outside the FOV, lungs and heart ok."""
    ph = make_phantom(seed=3)
    z = ph.affine[2, 3] + ph.affine[2, 2] * np.arange(ph.hu.shape[2])
    keep = np.flatnonzero((z > -45.0) & (z < 110.0))
    k0, k1 = int(keep[0]), int(keep[-1]) + 1
    affine = ph.affine.copy()
    affine[:3, 3] += affine[:3, 2] * k0
    cropped = dataclasses.replace(ph, hu=ph.hu[:, :, k0:k1].copy(), labelmap=ph.labelmap[:, :, k0:k1].copy(),
                                  affine=affine)
    vols = tmp_path / "vols"
    vols.mkdir()
    write_phantom_nifti(cropped, vols / "chest_cut.nii.gz")
    rep = tmp_path / "reports.csv"
    with rep.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerow(["chest_cut.nii.gz", "", "", "The thyroid gland is normal. Both adrenal glands are normal. "
                    "The heart is normal in size. Both lungs are clear.", "Normal."])
    out = tmp_path / "out"
    res = run(out, reports=[rep], volumes=[vols], split="test")
    assert res.exit_code == 0, res
    rec = read_record(out / "cases" / "chest_cut.json")
    status = {n: m.status for n, m in rec.node_masks.items()}
    assert status["thyroid"] == "outside_fov"
    assert status["heart"] == "ok" and status["lung"] == "ok"
    assert status["left adrenal gland"] == "no_structure"
    assert (out / "radgenome_files" / "test_region_report.csv").is_file()
    assert not any(f.kind == "empty_mask" and f.node == "thyroid" for f in rec.flags)


def test_text_only_and_two_workers(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Run, tables: Tables, reference_build: Path
) -> None:
    root = corpus_factory(4)
    res = run(tmp_path / "text", root, text_only=True)
    assert res.exit_code == 0 and res.done == 4
    assert not (tmp_path / "text" / "masks").exists()
    rec = read_record(next((tmp_path / "text" / "cases").glob("*.json")))
    assert {m.status for m in rec.node_masks.values()} == {"not_segmented"}

    two = run(tmp_path / "w2", root, workers=2)
    assert two.exit_code == 0, two
    assert tables(reference_build) == tables(tmp_path / "w2")


def test_fatal_errors(tmp_path: Path, run: Run) -> None:
    with pytest.raises(BuildError, match="nothing_here: no such folder"):
        run(tmp_path / "o", tmp_path / "nothing_here")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BuildError, match="no reports table found"):
        run(tmp_path / "o2", empty)
    assert "fatal: no reports table found" in (tmp_path / "o2" / "build.log").read_text()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rep = tmp_path / "r.csv"
    rep.write_text(",".join(HEADER) + "\nv.nii.gz,,,The heart is normal.,\n")
    with pytest.raises(BuildError, match="not writable"):
        run(blocker / "out", reports=[rep], text_only=True)
    with pytest.raises(BuildError, match="text backend 'rules'"):
        run(tmp_path / "o3", reports=[rep], text_only=True, text_options={"model": "m"})


def test_sat_space_and_radgenome_layout(corpus_factory: Callable[[int], Path], tmp_path: Path, run: Run) -> None:
    root = corpus_factory(4)
    src = next(root.rglob("valid_1_a_1.nii.gz"))
    vols = tmp_path / "vols"
    vols.mkdir()
    shutil.copyfile(src, vols / src.name)
    res = run(tmp_path / "out", reports=[root / "dataset" / "radiology_text_reports" / "validation_reports.csv"],
              volumes=[vols], space="sat", radgenome_layout=True)
    assert res.exit_code == 3  # valid_2_a_1's report has no volume here: listed, the rest built
    assert res.reports_without_volumes == ["valid_2_a_1.nii.gz"] and res.done == 1
    side = json.loads((tmp_path / "out" / "masks" / "valid_1_a_1.json").read_text())
    assert side["space"] == "sat"
    layout = tmp_path / "out" / "seg_valid_1_a_1"
    assert (layout / "lung.nii.gz").is_file() and (layout / "heart.nii.gz").is_file()
    rec = read_record(tmp_path / "out" / "cases" / "valid_1_a_1.json")
    assert rec.masks.settings["space"] == "sat" and rec.node_masks["lung"].status == "ok"


def test_missing_volumes_built_text_only(corpus_factory: Callable[[int], Path], tmp_path: Path, run: Run) -> None:
    root = corpus_factory(4)
    vols = tmp_path / "vols"
    vols.mkdir()
    shutil.copyfile(next(root.rglob("valid_1_a_1.nii.gz")), vols / "valid_1_a_1.nii.gz")
    reports = [root / "dataset" / "radiology_text_reports" / "validation_reports.csv"]
    res = run(tmp_path / "out", reports=reports, volumes=[vols], missing_volumes="text")
    assert res.exit_code == 0 and res.done == 2, res
    assert res.reports_without_volumes == ["valid_2_a_1.nii.gz"]  # still listed
    rec = read_record(tmp_path / "out" / "cases" / "valid_2_a_1.json")
    assert {m.status for m in rec.node_masks.values()} == {"not_segmented"}
    assert rec.provenance.volume_missing is True and rec.masks.labelmap is None
    assert read_record(tmp_path / "out" / "cases" / "valid_1_a_1.json").node_masks["lung"].status == "ok"

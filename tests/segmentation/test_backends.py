"""Backends: TotalSegmentator name map / output import / errors, SAT input / command / output import / errors,
precomputed RadGenome seg_ folders and label maps, and the registry."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from radgenome.anatomy import load_hierarchy, mask_names
from radgenome.corpus.volume import read_ct
from radgenome.model import CTVolume
from radgenome.segmentation.base import BackendUnavailableError, SegmentationError
from radgenome.segmentation.precomputed import (
    PrecomputedSegmenter,
    build_segmentation,
    map_names,
    totalseg_name_map,
    totalseg_total_classes,
)
from radgenome.segmentation.radgenome_layout import write_radgenome_layout
from radgenome.segmentation.registry import get_segmenter
from radgenome.segmentation.sat import SATSegmenter, default_prompts, jsonl_line
from radgenome.segmentation.satspace import sat_input_grid
from radgenome.segmentation.totalseg import TotalSegmentatorSegmenter, import_totalseg_output, missing_weights

TS_WITHOUT_COUNTERPART = {"sacrum", "hip_left", "hip_right", "brain", "skull"}


@pytest.fixture
def lps_case(h: Any, tmp_path: Path) -> tuple[CTVolume, np.ndarray, np.ndarray, np.ndarray]:
    """(volume, canonical truth labels, labels stored on the LPS input grid, input affine)."""
    hu, labels = h.chest_ras()
    arr, aff = h.reorient(hu, h.ras_affine(), "LPS")
    lab_in, _ = h.reorient(labels, h.ras_affine(), "LPS")
    v = read_ct(h.write_nifti(tmp_path / "case1.nii.gz", arr, aff))
    return v, labels, lab_in, aff


# ------------------------------------------------------------------ TotalSegmentator
def test_totalseg_name_map_examples() -> None:
    m = totalseg_name_map()
    assert m["lung_upper_lobe_left"] == "left lung upper lobe"
    assert m["rib_left_4"] == "left rib 4"
    assert m["vertebrae_T9"] == "thoracic vertebrae 9 (t9)"
    assert m["thyroid_gland"] == "thyroid gland"
    assert m["clavicula_right"] == "right clavicle"
    assert m["atrial_appendage_left"] == "left auricle of heart"


def test_totalseg_map_covers_every_total_class() -> None:
    names, h = set(mask_names()), load_hierarchy()
    m = totalseg_name_map()
    for ts_name in totalseg_total_classes().values():
        if ts_name in TS_WITHOUT_COUNTERPART:
            assert ts_name not in m
            continue
        assert ts_name in m, ts_name
        assert m[ts_name] in names or m[ts_name] in h, m[ts_name]
    assert len(totalseg_total_classes()) == 117


def test_totalseg_multilabel_import(h: Any, lps_case: Any, tmp_path: Path) -> None:
    v, labels, lab_in, aff = lps_case
    ts = np.zeros(lab_in.shape, dtype=np.uint8)
    ts[lab_in == 1] = 10  # lung_upper_lobe_left
    ts[lab_in == 2] = 12  # lung_upper_lobe_right
    ts[0:2, 0:2, 0:2] = 91  # skull: no counterpart
    ts[-2:, -2:, -2:] = 80  # gluteus_maximus_left -> muscle
    ts[-2:, 0:2, -2:] = 81  # gluteus_maximus_right -> muscle (merged)
    p = h.write_nifti(tmp_path / "ts.nii.gz", ts, aff)
    seg = build_segmentation(
        import_totalseg_output(p, v), method="totalsegmentator:total", confidence=0.9, backend="t", version="0"
    )
    names = set(seg.labels.values())
    assert names == {"left lung upper lobe", "right lung upper lobe", "muscle"}
    by_name = {n: i for i, n in seg.labels.items()}
    np.testing.assert_array_equal(seg.labelmap == by_name["left lung upper lobe"], labels == 1)
    assert int((seg.labelmap == by_name["muscle"]).sum()) == 16
    assert any("skull" in w for w in seg.warnings)


def test_totalseg_folder_import(h: Any, lps_case: Any, tmp_path: Path) -> None:
    v, labels, lab_in, aff = lps_case
    out = tmp_path / "ts_out"
    out.mkdir()
    h.write_nifti(out / "lung_lower_lobe_left.nii.gz", (lab_in == 1).astype(np.uint8), aff)
    h.write_nifti(out / "lung_lower_lobe_right.nii.gz", (lab_in == 2).astype(np.uint8), aff)
    h.write_nifti(out / "brain.nii.gz", np.zeros(lab_in.shape, np.uint8), aff)
    imported = import_totalseg_output(out, v)
    seg = build_segmentation(imported, method="m", confidence=1, backend="t", version="0")
    by_name = {n: i for i, n in seg.labels.items()}
    np.testing.assert_array_equal(seg.labelmap == by_name["right lung lower lobe"], labels == 2)
    assert any("brain" in w for w in seg.warnings)


def test_totalseg_unavailable_without_package() -> None:
    with pytest.raises(BackendUnavailableError, match=r"pip install 'radgenome\[totalseg\]'"):
        TotalSegmentatorSegmenter()


def test_totalseg_unavailable_without_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a stand-in for the installed package, only to reach the weights check
    pkg = types.ModuleType("totalsegmentator")
    api = types.ModuleType("totalsegmentator.python_api")
    api.totalsegmentator = lambda *a, **k: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "totalsegmentator", pkg)
    monkeypatch.setitem(sys.modules, "totalsegmentator.python_api", api)
    monkeypatch.delenv("TOTALSEG_WEIGHTS_PATH", raising=False)
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path / "tshome"))
    expected = str(tmp_path / "tshome" / "nnunet" / "results")
    with pytest.raises(BackendUnavailableError, match="Dataset291_") as err:
        TotalSegmentatorSegmenter(task="total")
    assert expected in str(err.value)
    assert missing_weights("total", True) == [297]
    (tmp_path / "tshome" / "nnunet" / "results" / "Dataset297_TotalSegmentator_total_3mm_1559subj").mkdir(parents=True)
    assert missing_weights("total", True) == []


# ------------------------------------------------------------------ SAT
def test_sat_jsonl_and_prompts(tmp_path: Path) -> None:
    prompts = default_prompts()
    h = load_hierarchy()
    assert "left lung upper lobe" in prompts and "left rib 4" in prompts
    assert "lung" not in prompts and "left lung" not in prompts  # unions are not prompted
    assert all(not h.children.get(p) for p in prompts)
    line = jsonl_line(tmp_path / "a.nii.gz", ["liver", "heart"])
    assert line == {
        "image": str(tmp_path / "a.nii.gz"),
        "label": ["liver", "heart"],
        "modality": "ct",
        "dataset": "radgenome",
        "orientation_code": "RAS",
    }


def _fake_sat_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    sat = tmp_path / "SAT"
    sat.mkdir()
    (sat / "inference.py").write_text("# SAT inference entry point\n")
    ckpt = tmp_path / "SAT_Pro.pth"
    ckpt.write_bytes(b"0")
    te = tmp_path / "text_encoder.pth"
    te.write_bytes(b"0")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "torchrun"
    launcher.write_text("#!/bin/sh\nexit 0\n")
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ.get('PATH', '')}")
    return {"sat_dir": sat, "checkpoint": ckpt, "text_encoder_checkpoint": te}


def test_sat_command_and_output_import(lps_case: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v, labels, _, _ = lps_case
    paths = _fake_sat_checkout(tmp_path, monkeypatch)
    seg_ = SATSegmenter(**paths, prompts=["left lung", "right lung"])
    jsonl, rcd, grid = seg_.prepare(v, tmp_path / "work")
    line = json.loads(jsonl.read_text())
    assert line["label"] == ["left lung", "right lung"] and line["modality"] == "ct"
    img = nib.load(line["image"])
    assert img.shape == grid.shape
    np.testing.assert_allclose(np.diag(img.affine)[:3], (1, 1, 3))
    # SAT's foreground crop (voxels > 0) is already applied: it would not change the image
    data = np.asarray(img.dataobj)
    fg = np.argwhere(data > 0)
    assert fg.min(axis=0).tolist() == [0, 0, 0] and (fg.max(axis=0) + 1).tolist() == list(grid.shape)
    cmd = seg_.command(jsonl, rcd)
    assert cmd[:2] == ["torchrun", "--nproc_per_node=1"] and "inference.py" in cmd
    for flag, value in [
        ("--rcd_dir", str(rcd)),
        ("--datasets_jsonl", str(jsonl)),
        ("--vision_backbone", "UNET-L"),
        ("--checkpoint", str(paths["checkpoint"])),
        ("--text_encoder", "ours"),
        ("--text_encoder_checkpoint", str(paths["text_encoder_checkpoint"])),
    ]:
        assert cmd[cmd.index(flag) + 1] == value
    # SAT's output as SAT writes it: identity affine, on its (unchanged) input grid, one file per prompt
    from radgenome.segmentation.satspace import resample_labels

    sat_labels = resample_labels(labels, v.affine, grid.shape, grid.affine)
    out = seg_.output_folder(rcd, v)
    out.mkdir(parents=True)
    for i, name in [(1, "left lung"), (2, "right lung")]:
        nib.save(nib.Nifti1Image((sat_labels == i).astype(np.float64), np.eye(4)), str(out / f"{name}.nii.gz"))
    seg = seg_.import_output(rcd, v, grid)
    by_name = {n: i for i, n in seg.labels.items()}
    for i, name in [(1, "left lung"), (2, "right lung")]:
        truth = labels == i
        got = seg.labelmap == by_name[name]
        dice = 2 * (truth & got).sum() / (truth.sum() + got.sum())
        assert dice > 0.9, (name, dice)
    assert seg.info["left lung"].method == "sat:UNET-L"


def test_sat_run_without_output_is_a_clear_error(
    lps_case: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = lps_case[0]
    paths = _fake_sat_checkout(tmp_path, monkeypatch)
    with pytest.raises(SegmentationError, match="SAT wrote no output folder"):
        SATSegmenter(**paths, prompts=["left lung"]).segment(v)


def test_sat_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="no SAT checkout at") as err:
        SATSegmenter(tmp_path / "nope", tmp_path / "ck.pth", tmp_path / "te.pth")
    assert "checkpoint not found" in str(err.value) and "huggingface.co/zzh99/SAT" in str(err.value)
    with pytest.raises(BackendUnavailableError, match="sat_dir"):
        get_segmenter("sat")


def test_sat_input_grid_is_cropped_to_positive_voxels(lps_case: Any) -> None:
    grid, hu = sat_input_grid(lps_case[0])
    assert hu.shape == grid.shape and hu.dtype == np.int16


# ------------------------------------------------------------------ precomputed
def test_precomputed_radgenome_folder_in_sat_space(h: Any, lps_case: Any, tmp_path: Path) -> None:
    v, labels, _, _ = lps_case
    from radgenome.segmentation.satspace import resample_labels, sat_grid

    grid = sat_grid(v)
    sat_lab = resample_labels(labels, v.affine, grid.shape, grid.affine)
    src = tmp_path / "masks"
    write_radgenome_layout(sat_lab, grid.affine, {1: "left lung", 2: "right lung"}, src / "seg_case1")
    seg = PrecomputedSegmenter(src).segment(v)
    assert set(seg.labels.values()) == {"left lung", "right lung"}  # lung, top-level unions skipped
    assert any("skipped" in w and "lung" in w for w in seg.warnings)
    by_name = {n: i for i, n in seg.labels.items()}
    for i, name in [(1, "left lung"), (2, "right lung")]:
        truth, got = labels == i, seg.labelmap == by_name[name]
        assert 2 * (truth & got).sum() / (truth.sum() + got.sum()) > 0.9


def test_precomputed_labelmap_with_table(h: Any, lps_case: Any, tmp_path: Path) -> None:
    v, labels, lab_in, aff = lps_case
    src = tmp_path / "pre"
    src.mkdir()
    lm = lab_in.copy()
    lm[0:2, 0:2, 0:2] = 7  # an id the table does not name
    h.write_nifti(src / "case1.nii.gz", lm, aff)
    (src / "case1.tsv").write_text("1\tleft lung\n2\tright lung\n3\tlung nodule\n")
    seg = PrecomputedSegmenter(src).segment(v)
    by_name = {n: i for i, n in seg.labels.items()}
    np.testing.assert_array_equal(seg.labelmap == by_name["left lung"], labels == 1)  # exact: same grid
    assert any("[7]" in w for w in seg.warnings) and any("lung nodule" in w for w in seg.warnings)
    with pytest.raises(SegmentationError, match="no precomputed segmentation"):
        PrecomputedSegmenter(src).locate("other")


def test_map_names_auto_keeps_vocabulary_and_flags_extras() -> None:
    mapped, warnings = map_names({1: "Left Lung", 2: "lung_upper_lobe_left", 3: "body"}, "auto")
    assert mapped == {1: "left lung", 2: "left lung upper lobe", 3: "body"}
    assert not warnings


def test_registry() -> None:
    with pytest.raises(ValueError, match="unknown segmentation backend"):
        get_segmenter("magic")
    with pytest.raises(BackendUnavailableError, match="source_dir"):
        get_segmenter("precomputed")
    with pytest.raises(BackendUnavailableError, match="totalseg"):
        get_segmenter("totalsegmentator")


def test_precomputed_sat_output_with_identity_affine(lps_case: Any, tmp_path: Path) -> None:
    v, labels, _, _ = lps_case
    from radgenome.segmentation.satspace import resample_labels

    grid, _ = sat_input_grid(v)
    sat_lab = resample_labels(labels, v.affine, grid.shape, grid.affine)
    folder = tmp_path / "rcd" / "radgenome" / "seg_case1"
    folder.mkdir(parents=True)
    for i, name in [(1, "left lung"), (2, "right lung")]:
        nib.save(nib.Nifti1Image((sat_lab == i).astype(np.uint8), np.eye(4)), str(folder / f"{name}.nii.gz"))
    seg = PrecomputedSegmenter(tmp_path / "rcd").segment(v)
    by_name = {n: i for i, n in seg.labels.items()}
    truth, got = labels == 1, seg.labelmap == by_name["left lung"]
    assert 2 * (truth & got).sum() / (truth.sum() + got.sum()) > 0.9
    bad = tmp_path / "bad" / "seg_case1"
    bad.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), np.eye(4)), str(bad / "heart.nii.gz"))
    with pytest.raises(SegmentationError, match="identity affine"):
        PrecomputedSegmenter(tmp_path / "bad").segment(v)

"""Segmentation output: input grid round trip, §1.2 sidecar contract, dtype, SAT space and layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from radgenome.anatomy import ANATOMICAL_REGIONS, mask_names
from radgenome.corpus.volume import read_ct
from radgenome.model import Segmentation, StructureInfo
from radgenome.segmentation.io import (
    SegmentationContractError,
    read_label_table,
    read_segmentation,
    write_segmentation,
)
from radgenome.segmentation.radgenome_layout import write_radgenome_layout
from radgenome.segmentation.satspace import body_bbox, resample_labels, sat_grid, to_sat_space

SIDE_KEYS = {"labels", "backend", "version", "settings", "space", "source", "stats", "warnings"}
STAT_KEYS = {"voxels", "volume_ml", "bbox_ijk", "centroid_mm", "method", "confidence"}


def lung_seg(labels_canon: np.ndarray) -> Segmentation:
    return Segmentation(
        labelmap=labels_canon,
        labels={1: "left lung", 2: "right lung"},
        info={"left lung": StructureInfo("test", 1.0), "right lung": StructureInfo("test", 1.0)},
        backend="test",
        version="0",
    )


@pytest.mark.parametrize("codes", ["RAS", "LPS", "LAS", "PIR", "SAL"])
def test_label_map_lands_on_the_input_grid(h: Any, tmp_path: Path, codes: str) -> None:
    hu, labels = h.chest_ras()
    arr, aff = h.reorient(hu, h.ras_affine(), codes)
    lab_in, _ = h.reorient(labels, h.ras_affine(), codes)
    v = read_ct(h.write_nifti(tmp_path / "case.nii.gz", arr, aff))
    # the backend works on the canonical grid: its labels equal the canonical truth
    written = write_segmentation(lung_seg(labels), v, tmp_path / "out")
    nii, side = written.labelmap, written.sidecar
    img = nib.load(nii)
    np.testing.assert_allclose(img.affine, aff, atol=1e-5)
    assert img.shape == arr.shape
    np.testing.assert_array_equal(np.asarray(img.dataobj), lab_in)
    assert img.get_data_dtype() == np.uint8
    data = json.loads(side.read_text())
    # left lung centroid: world x negative (patient's left), whatever the storage order
    assert data["stats"]["left lung"]["centroid_mm"][0] < 0 < data["stats"]["right lung"]["centroid_mm"][0]


def test_sidecar_contract(h: Any, tmp_path: Path) -> None:
    hu, labels = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "c.nii.gz", hu, h.ras_affine()))
    labels = labels.copy()
    labels[0:2, 0:2, 0:2] = 3
    seg = lung_seg(labels)
    seg.labels[3] = "body"
    seg.info["body"] = StructureInfo("threshold", 0.4, extra=True)
    seg.labels[4] = "thyroid gland"
    seg.info["thyroid gland"] = StructureInfo("none", 0.1)
    written = write_segmentation(seg, v, tmp_path)
    nii, side = written.labelmap, written.sidecar
    d = json.loads(side.read_text())
    assert set(d) >= SIDE_KEYS
    assert d["labels"] == {"1": "left lung", "2": "right lung", "3": "body", "4": "thyroid gland"}
    names = set(mask_names())
    for name, s in d["stats"].items():
        assert set(s) >= STAT_KEYS
        assert name in names or s.get("extra") is True
    assert d["stats"]["body"]["extra"] is True and "extra" not in d["stats"]["left lung"]
    left = d["stats"]["left lung"]
    assert left["voxels"] == int((labels == 1).sum())
    assert left["volume_ml"] == pytest.approx(left["voxels"] * 2 * 2 * 3 / 1000, rel=1e-3)
    i0, j0, k0, i1, j1, k1 = left["bbox_ijk"]
    idx = np.argwhere(labels == 1)
    assert [i0, j0, k0] == idx.min(axis=0).tolist() and [i1, j1, k1] == idx.max(axis=0).tolist()
    assert any("thyroid gland" in w and "no voxel" in w for w in d["warnings"])
    lm, aff, labs, side_read = read_segmentation(nii)
    assert lm.shape == labels.shape and np.allclose(aff, h.ras_affine())
    assert labs == {1: "left lung", 2: "right lung", 3: "body", 4: "thyroid gland"}
    assert side_read["backend"] == "test"
    # atomic writes leave no temporaries behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unflagged_unknown_name_is_rejected(h: Any, tmp_path: Path) -> None:
    hu, labels = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "c.nii.gz", hu, h.ras_affine()))
    seg = lung_seg(labels)
    seg.labels[2] = "lungs, both"
    seg.info["lungs, both"] = StructureInfo("x", 1.0)
    with pytest.raises(SegmentationContractError, match="not one of RadGenome's mask names"):
        write_segmentation(seg, v, tmp_path)


def test_uint16_when_many_labels(h: Any, tmp_path: Path) -> None:
    hu, labels = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "c.nii.gz", hu, h.ras_affine()))
    lm = labels.astype(np.uint16)
    lm[lm == 2] = 300
    seg = Segmentation(
        lm,
        {1: "left lung", 300: "right lung"},
        {"left lung": StructureInfo("t", 1), "right lung": StructureInfo("t", 1)},
        "t",
        "0",
    )
    nii = write_segmentation(seg, v, tmp_path).labelmap
    img = nib.load(nii)
    assert img.get_data_dtype() == np.uint16
    assert int(np.asarray(img.dataobj).max()) == 300


def test_sat_space_grid_and_output(h: Any, tmp_path: Path) -> None:
    hu, labels = h.chest_ras()
    arr, aff = h.reorient(hu, h.ras_affine(), "LPS")
    v = read_ct(h.write_nifti(tmp_path / "c.nii.gz", arr, aff))
    grid = sat_grid(v)
    np.testing.assert_allclose(np.diag(grid.affine)[:3], (1.0, 1.0, 3.0))
    lo, hi = body_bbox(v.hu)
    body_extent_mm = (hi - lo) * np.array(v.spacing)
    assert np.all(np.array(grid.shape) * np.array([1.0, 1.0, 3.0]) >= body_extent_mm)
    sat = to_sat_space(v, grid)
    assert sat.hu.shape == grid.shape and sat.meta["space"] == "sat"
    written = write_segmentation(lung_seg(labels), v, tmp_path / "sat", space="sat")
    nii, side = written.labelmap, written.sidecar
    img = nib.load(nii)
    assert img.shape == grid.shape
    np.testing.assert_allclose(img.affine, grid.affine)
    d = json.loads(side.read_text())
    assert d["space"] == "sat"
    # physical agreement: the left lung centroid in SAT space ~ the native one
    native = np.argwhere(labels == 1).mean(axis=0) @ v.affine[:3, :3].T + v.affine[:3, 3]
    np.testing.assert_allclose(d["stats"]["left lung"]["centroid_mm"], native, atol=2.0)
    # and back: nearest resampling to the canonical grid agrees with the original labels
    back = resample_labels(np.asarray(img.dataobj), img.affine, v.shape, v.affine)
    agree = (back == labels)[labels > 0].mean()
    assert agree > 0.9


def test_radgenome_layout(h: Any, tmp_path: Path) -> None:
    _, labels = h.chest_ras()
    seg_dir = tmp_path / "seg_case"
    written = write_radgenome_layout(labels, h.ras_affine(), {1: "left lung", 2: "right lung"}, seg_dir)
    names = {p.name[: -len(".nii.gz")] for p in written}
    assert {"left lung", "right lung", "lung"} <= names
    assert set(ANATOMICAL_REGIONS) <= names
    lung = np.asarray(nib.load(seg_dir / "lung.nii.gz").dataobj)
    np.testing.assert_array_equal(lung, labels > 0)
    assert not np.asarray(nib.load(seg_dir / "heart.nii.gz").dataobj).any()


def test_label_tables(tmp_path: Path) -> None:
    j = tmp_path / "t.json"
    j.write_text('{"0": "background", "1": "left lung", "2": "right lung"}')
    assert read_label_table(j) == {1: "left lung", 2: "right lung"}
    t = tmp_path / "t.tsv"
    t.write_text("id\tname\n1\tleft lung\n2\tright lung\n")
    assert read_label_table(t) == {1: "left lung", 2: "right lung"}
    c = tmp_path / "t.csv"
    c.write_text("1,trachea\n")
    assert read_label_table(c) == {1: "trachea"}


def test_unnamed_label_id_is_rejected_before_writing(h: Any, tmp_path: Path) -> None:
    hu, labels = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "c.nii.gz", hu, h.ras_affine()))
    lm = labels.copy()
    lm[0, 0, 0] = 9
    with pytest.raises(SegmentationContractError, match=r"ids without a name: \[9\]"):
        write_segmentation(lung_seg(lm), v, tmp_path / "out")
    assert not (tmp_path / "out" / "c.nii.gz").exists()


def test_stats_match_a_brute_force_count_in_c_and_f_order(h: Any) -> None:
    from radgenome.regions import structure_stats

    rng = np.random.default_rng(3)
    lm = rng.integers(0, 4, size=(9, 7, 5)).astype(np.uint8)
    names = {1: "trachea", 2: "heart", 3: "aorta"}
    aff = h.ras_affine()
    for arr in (lm, np.asfortranarray(lm), lm[::-1, :, ::-1]):
        stats = structure_stats(arr, names, aff)
        for i, name in names.items():
            idx = np.argwhere(arr == i)
            s = stats[name]
            assert s.voxels == len(idx)
            assert s.bbox_ijk == idx.min(axis=0).tolist() + idx.max(axis=0).tolist()
            np.testing.assert_allclose(s.centroid_mm, aff[:3, :3] @ idx.mean(axis=0) + aff[:3, 3], atol=0.01)

"""Real CTs from ../shared/benchmarks/volumes (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from radgenome.corpus.volume import read_ct
from radgenome.eval.seg import evaluate_seg
from radgenome.segmentation.io import write_segmentation
from radgenome.segmentation.precomputed import PrecomputedSegmenter

pytestmark = pytest.mark.benchmark_data

CASE = "volumes/cip_copdgene_10002K_ct64"


def test_nifti_and_dicom_give_the_same_volume(benchmarks_dir: Path) -> None:
    nii = read_ct(benchmarks_dir / CASE / "ct.nii.gz")
    dcm = read_ct(benchmarks_dir / CASE / "dicom")
    assert nii.shape == dcm.shape == (64, 64, 79)
    np.testing.assert_allclose(nii.hu.astype(np.float32), dcm.hu.astype(np.float32), atol=0.5)
    np.testing.assert_allclose(nii.affine, dcm.affine, atol=1e-2)
    assert nii.meta["hu"]["detected"] == dcm.meta["hu"]["detected"] == "hu"


def test_reference_labels_round_trip_through_the_writer(benchmarks_dir: Path, tmp_path: Path) -> None:
    """Import the left/right reference as a precomputed segmentation of the DICOM volume and score it."""
    pre = tmp_path / "pre"
    pre.mkdir()
    ref = benchmarks_dir / CASE / "lung_left_right.nii.gz"
    img = nib.load(ref)
    nib.save(img, str(pre / "dicom.nii.gz"))
    (pre / "dicom.json").write_text(json.dumps({"1": "right lung", "2": "left lung"}))
    volume = read_ct(benchmarks_dir / CASE / "dicom")
    seg = PrecomputedSegmenter(pre).segment(volume)
    nii = write_segmentation(seg, volume, tmp_path / "out").labelmap
    rows = {r.name: r.dice for r in evaluate_seg(nii, ref, {"right lung": [1], "left lung": [2], "lung": [1, 2]})}
    assert rows == {"right lung": 1.0, "left lung": 1.0, "lung": 1.0}
    # the right lung is on the patient's right (+x world) — from the affine, not the array order
    side = json.loads((tmp_path / "out" / "dicom.json").read_text())
    assert side["stats"]["right lung"]["centroid_mm"][0] > 0 > side["stats"]["left lung"]["centroid_mm"][0]


@pytest.mark.parametrize(
    "rel", ["volumes/cip_copdgene_16021S_crop2slices/ct_2slices.nii.gz", "volumes/lungmask_2slices_dicom"]
)
def test_two_slice_cases_read_as_slabs(benchmarks_dir: Path, rel: str) -> None:
    v = read_ct(benchmarks_dir / rel, min_voxels=2)
    assert v.shape[2] == 2 and v.meta["hu"]["detected"] == "hu"

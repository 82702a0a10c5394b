"""Property: any axis permutation/flip of the same physical image reads to the same canonical volume, and a
label map written back lands on exactly the input's voxels."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radgenome.corpus.volume import read_ct
from radgenome.model import Segmentation, StructureInfo
from radgenome.segmentation.io import write_segmentation

AXES = [("R", "L"), ("A", "P"), ("S", "I")]
ALL_CODES = [
    "".join(AXES[p][f] for p, f in zip(perm, flips, strict=True))
    for perm in itertools.permutations(range(3))
    for flips in itertools.product((0, 1), repeat=3)
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codes=st.sampled_from(ALL_CODES), seed=st.integers(0, 1000))
def test_any_orientation_round_trips(h: Any, codes: str, seed: int) -> None:
    hu, labels = h.chest_ras((20, 18, 16), seed=seed)
    rng = np.random.default_rng(seed)
    labels = labels.copy()
    labels[rng.random(labels.shape) < 0.02] = 3  # scattered voxels: any misplacement shows
    arr, aff = h.reorient(hu, h.ras_affine(), codes)
    lab_in, _ = h.reorient(labels, h.ras_affine(), codes)
    with tempfile.TemporaryDirectory() as tmp:
        v = read_ct(h.write_nifti(Path(tmp) / "c.nii.gz", arr, aff))
        np.testing.assert_array_equal(v.hu, hu)
        seg = Segmentation(
            labels,
            {1: "left lung", 2: "right lung", 3: "lung nodule"},
            {n: StructureInfo("t", 1.0) for n in ("left lung", "right lung", "lung nodule")},
            "t",
            "0",
        )
        nii = write_segmentation(seg, v, Path(tmp) / "out").labelmap
        img = nib.load(nii)
        np.testing.assert_array_equal(np.asarray(img.dataobj), lab_in)
        np.testing.assert_allclose(img.affine, aff, atol=1e-5)
    # the left lung is on the patient's left in world coordinates, whatever the storage order
    left = np.argwhere(labels == 1).mean(axis=0)
    assert (v.affine[:3, :3] @ left + v.affine[:3, 3])[0] < 0

"""The Python API of ``radgenome/__init__.py``: its docstring examples run as doctests, ``import radgenome`` stays
light, and the four calls handle their other inputs (files, DICOM folders, label map files)."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import radgenome


def test_docstring_examples() -> None:
    results = doctest.testmod(radgenome, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 20 and results.failed == 0


def test_all_is_the_api() -> None:
    assert {"analyze_report", "segment", "region_mask", "build"} <= set(radgenome.__all__)
    for name in radgenome.__all__:
        assert getattr(radgenome, name) is not None
    assert callable(radgenome.segment)  # never shadowed by a subpackage of the same name


def test_import_is_light() -> None:
    code = "import sys, radgenome; print(sorted(m for m in ('numpy', 'pyarrow', 'pydantic', 'rich', 'typer') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_segment_a_file_keeps_its_grid_and_region_mask_reads_label_map_files(tmp_path: Path) -> None:
    from radgenome.segmentation.io import write_segmentation
    from radgenome.synth.phantom import make_phantom, write_phantom_nifti

    ct = make_phantom(shape=(48, 48, 40), spacing=(7.0, 7.0, 8.0))
    path = tmp_path / "case.nii.gz"
    write_phantom_nifti(ct, path, orientation="LPS")  # the file's array order is not RAS
    seg = radgenome.segment(path)
    import nibabel as nib

    img = nib.load(path)
    assert seg.labelmap.shape == img.shape and np.allclose(seg.affine, img.affine)
    from_array = radgenome.segment(ct.hu, affine=ct.affine)
    # the same anatomy: the left lung is on the patient's left (-x) whatever the array order
    for s in (seg, from_array):
        left = radgenome.region_mask(s, "left lung")
        ijk = np.argwhere(left).mean(axis=0)
        x = (s.affine @ np.array([*ijk, 1.0]))[0]
        right = np.argwhere(radgenome.region_mask(s, "right lung")).mean(axis=0)
        assert x < (s.affine @ np.array([*right, 1.0]))[0]
    from radgenome.corpus.volume import read_ct

    written = write_segmentation(from_array, read_ct(path), tmp_path / "out")
    from_file = radgenome.region_mask(written.labelmap, "lung")
    assert from_file.shape == img.shape and from_file.sum() == radgenome.region_mask(seg, "lung").sum()


def test_api_errors_name_the_problem(tmp_path: Path) -> None:
    ct = np.zeros((20, 20, 20), dtype=np.int16)
    with pytest.raises(ValueError, match="constant volume"):
        radgenome.segment(ct, affine=np.eye(4))
    ct = np.random.default_rng(0).integers(-1000, 400, (20, 20, 20)).astype(np.int16)
    with pytest.raises(ValueError, match="affine"):
        radgenome.segment(ct)
    with pytest.raises(ValueError, match="unknown segmentation backend"):
        radgenome.segment(ct, affine=np.eye(4), backend="magic")
    from radgenome.regions import NotAMaskError
    from radgenome.text.base import TextBackendError

    with pytest.raises(TextBackendError, match="unknown text backend"):
        radgenome.analyze_report("No effusion.", backend="magic")
    with pytest.raises(TextBackendError, match="base_url and a model name"):
        radgenome.analyze_report("No effusion.", backend="hybrid")
    seg = radgenome.Segmentation(np.zeros((2, 2, 2), np.uint8), {1: "heart"}, {}, "x", "1")
    with pytest.raises(NotAMaskError):
        radgenome.region_mask(seg, "others")

"""Volume reading: orientation, HU rule, metadata, bad inputs."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from radgenome.corpus.metadata import MetadataRow, classify_intensities, read_metadata
from radgenome.corpus.volume import VolumeReadError, from_canonical, read_ct

ORIENTATIONS = ["RAS", "LPS", "LAS", "RPI", "ASR", "SLP", "PIL"]


@pytest.mark.parametrize("codes", ORIENTATIONS)
def test_any_orientation_reads_to_the_same_canonical_volume(h: Any, tmp_path: Path, codes: str) -> None:
    hu, _ = h.chest_ras()
    arr, aff = h.reorient(hu, h.ras_affine(), codes)
    v = read_ct(h.write_nifti(tmp_path / f"ct_{codes}.nii.gz", arr, aff))
    assert v.shape == hu.shape
    np.testing.assert_array_equal(v.hu, hu)
    np.testing.assert_allclose(v.affine, h.ras_affine(), atol=1e-5)
    assert v.original_shape == arr.shape
    np.testing.assert_allclose(v.original_affine, aff)
    assert v.meta["orientation_in"] == codes
    # and back onto the input's own array order exactly
    np.testing.assert_array_equal(from_canonical(v.hu, v.original_affine), arr)


def test_left_stays_left(h: Any, tmp_path: Path) -> None:
    """A bright blob on the patient's left, stored LPS: canonical x index low, world x negative."""
    shape = (32, 32, 20)
    data = np.full(shape, -1000, dtype=np.int16)
    data[2:30, 2:30, :] = 30
    # LPS storage: axis 0 grows towards the patient's Left -> the left blob sits at HIGH stored index
    data[22:28, 12:18, 8:12] = 1500
    aff = np.diag([-2.0, -2.0, 3.0, 1.0])
    aff[:3, 3] = [31.0, 31.0, 0.0]
    v = read_ct(h.write_nifti(tmp_path / "lps.nii.gz", data, aff))
    idx = np.argwhere(v.hu > 1000).mean(axis=0)
    assert idx[0] < shape[0] / 2
    world = v.affine[:3, :3] @ idx + v.affine[:3, 3]
    assert world[0] < 0


def test_header_scaled_volume_is_not_rescaled_again(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    raw = (hu + 1024).astype(np.int16)
    p = tmp_path / "scaled.nii.gz"
    img = nib.Nifti1Image(raw, h.ras_affine())
    img.header.set_slope_inter(1.0, -1024.0)
    nib.save(img, str(p))
    row = MetadataRow("scaled.nii.gz", 1.0, -1024.0)
    v = read_ct(p, row)
    np.testing.assert_array_equal(v.hu, hu)
    assert "ignored" in v.meta["hu"]["metadata"]


def test_raw_volume_gets_metadata_rescale_once(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    raw = (hu + 1024).astype(np.int16)
    p = h.write_nifti(tmp_path / "valid_1_a_1.nii.gz", raw, h.ras_affine())
    v = read_ct(p, MetadataRow("valid_1_a_1.nii.gz", 1.0, -1024.0))
    np.testing.assert_array_equal(v.hu, hu)
    assert "metadata slope 1" in v.meta["hu"]["action"]
    # the same already-HU file with the same metadata row: untouched
    p2 = h.write_nifti(tmp_path / "hu.nii.gz", hu, h.ras_affine())
    v2 = read_ct(p2, MetadataRow("hu.nii.gz", 1.0, -1024.0))
    np.testing.assert_array_equal(v2.hu, hu)
    assert v2.meta["hu"]["detected"] == "hu"


def test_raw_volume_without_metadata_uses_standard_intercept_with_warning(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "raw.nii.gz", (hu + 1024).astype(np.int16), h.ras_affine()))
    np.testing.assert_array_equal(v.hu, hu)
    assert any("assumed slope 1, intercept -1024" in w for w in v.meta["warnings"])


def test_metadata_csv_parsing(h: Any, tmp_path: Path) -> None:
    p = tmp_path / "meta.csv"
    p.write_text(
        "VolumeName,Manufacturer,RescaleSlope,RescaleIntercept,XYSpacing,ZSpacing\n"
        'valid_1_a_1.nii.gz,GE,1.0,-1024.0,"[0.75, 0.75]",1.5\n',
        encoding="utf-8",
    )
    rows = read_metadata(p)
    row = rows["valid_1_a_1"]
    assert row.rescale_intercept == -1024.0 and row.xy_spacing == (0.75, 0.75) and row.z_spacing == 1.5


def test_metadata_spacing_fills_unset_header_spacing(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "a.nii.gz", hu, np.eye(4)), MetadataRow("a", 1, -1024, (0.7, 0.7), 2.0))
    np.testing.assert_allclose(v.spacing, (0.7, 0.7, 2.0))


def test_classify_intensities(h: Any) -> None:
    hu, _ = h.chest_ras()
    assert classify_intensities(hu).kind == "hu"
    assert classify_intensities(hu + 1024).kind == "raw"
    rng = np.random.default_rng(0)
    mr = rng.uniform(0, 600, size=(32, 32, 32))
    assert classify_intensities(mr).kind == "unknown"


# ------------------------------------------------------------------ bad inputs
def _bad(h: Any, tmp_path: Path, name: str, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    return h.write_nifti(tmp_path / name, data, h.ras_affine() if affine is None else affine)


def test_truncated_gzip(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    p = _bad(h, tmp_path, "trunc.nii.gz", hu)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeReadError, match=r"trunc\.nii\.gz.*(truncated|corrupt)"):
        read_ct(p)


def test_corrupt_gzip(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    p = _bad(h, tmp_path, "corrupt.nii.gz", hu)
    data = bytearray(p.read_bytes())
    data[100:400] = bytes(300)
    p.write_bytes(bytes(data))
    with pytest.raises(VolumeReadError, match=r"corrupt.nii.gz"):
        read_ct(p)


def test_non_image_named_nii_gz(h: Any, tmp_path: Path) -> None:
    p = tmp_path / "notes.nii.gz"
    p.write_text("this is a text file, not an image\n")
    with pytest.raises(VolumeReadError, match=r"notes.nii.gz.*not gzip"):
        read_ct(p)
    q = tmp_path / "text_gz.nii.gz"
    q.write_bytes(gzip.compress(b"hello, not a nifti header" * 40))
    with pytest.raises(VolumeReadError, match=r"text_gz.nii.gz.*not a NIfTI"):
        read_ct(q)


def test_2d_and_4d(h: Any, tmp_path: Path) -> None:
    with pytest.raises(VolumeReadError, match="2-D"):
        read_ct(_bad(h, tmp_path, "flat.nii.gz", np.zeros((64, 64), dtype=np.int16)))
    hu, _ = h.chest_ras()
    four = np.stack([hu, hu], axis=-1)
    with pytest.raises(VolumeReadError, match="4-D"):
        read_ct(_bad(h, tmp_path, "four.nii.gz", four))
    single = read_ct(_bad(h, tmp_path, "single.nii.gz", hu[..., None]))
    assert single.shape == hu.shape


def test_nan_inf(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    f = hu.astype(np.float32)
    f[3, 3, 3] = np.nan
    f[4, 4, 4] = np.inf
    with pytest.raises(VolumeReadError, match=r"nan.nii.gz: 2 NaN/inf"):
        read_ct(_bad(h, tmp_path, "nan.nii.gz", f))


def test_constant_volume(h: Any, tmp_path: Path) -> None:
    with pytest.raises(VolumeReadError, match="constant volume"):
        read_ct(_bad(h, tmp_path, "const.nii.gz", np.full((32, 32, 32), -1000, dtype=np.int16)))


def test_tiny_volume(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    p = _bad(h, tmp_path, "tiny.nii.gz", hu[:, :, :4])
    with pytest.raises(VolumeReadError, match="tiny volume"):
        read_ct(p)
    assert read_ct(p, min_voxels=2).shape[2] == 4  # slabs are allowed on request


def test_extreme_anisotropy(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    with pytest.raises(VolumeReadError, match="extreme anisotropy"):
        read_ct(_bad(h, tmp_path, "aniso.nii.gz", hu, h.ras_affine((0.5, 0.5, 15.0))))
    v = read_ct(_bad(h, tmp_path, "warn.nii.gz", hu, h.ras_affine((0.5, 0.5, 6.0))))
    assert any("anisotropy" in w for w in v.meta["warnings"])


def test_mr_like_range(h: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    mr = rng.uniform(0, 700, size=(32, 32, 32)).astype(np.int16)
    with pytest.raises(VolumeReadError, match="MR-like"):
        read_ct(_bad(h, tmp_path, "mr.nii.gz", mr))


def test_missing_file_and_empty_folder(h: Any, tmp_path: Path) -> None:
    with pytest.raises(VolumeReadError, match="no such file"):
        read_ct(tmp_path / "nothere.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeReadError, match="no DICOM"):
        read_ct(tmp_path / "empty")


def test_plain_nii_and_float_data(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    v = read_ct(h.write_nifti(tmp_path / "plain.nii", hu.astype(np.float32), h.ras_affine()))
    assert v.case_id == "plain"
    np.testing.assert_allclose(v.hu, hu)

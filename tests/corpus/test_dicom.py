"""DICOM series folders written with pydicom: sorting, rescale, tilt, uneven spacing, mixed series."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from radgenome.corpus.volume import VolumeReadError, read_ct


def write_series(
    folder: Path,
    hu: np.ndarray,
    *,
    spacing: tuple[float, float] = (2.0, 2.0),
    z_positions: list[float] | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    tilt_mm_per_slice: float = 0.0,
    series_uid: str | None = None,
    shuffle: bool = True,
    modality: str = "CT",
    start_index: int = 0,
) -> list[Path]:
    """Write ``hu`` (axes: column, row, slice; LPS patient axes, slice 0 lowest) as one DICOM file per slice."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    cols, rows, n = hu.shape
    z_positions = z_positions if z_positions is not None else [3.0 * k for k in range(n)]
    series_uid = series_uid or generate_uid()
    stored = np.rint((hu - intercept) / slope).astype(np.int16)
    paths = []
    order = list(range(n))
    if shuffle:
        random.Random(0).shuffle(order)
    for file_no, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"f{start_index + file_no:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Modality = modality
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.InstanceNumber = file_no + 1  # deliberately unrelated to the position
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-30.0, -30.0 + tilt_mm_per_slice * k, z_positions[k]]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = 3.0
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        ds.save_as(str(path), enforce_file_format=True)
        paths.append(path)
    return paths


def lps_to_ras_canonical(hu: np.ndarray) -> np.ndarray:
    """The canonical RAS array of a volume stored (column=L, row=P, slice=S)."""
    return hu[::-1, ::-1, :]


@pytest.fixture
def phantom(h: Any) -> np.ndarray:
    hu, _ = h.chest_ras((24, 20, 18))
    return hu.astype(np.float32)


def test_sorted_by_position_and_rescaled(tmp_path: Path, phantom: np.ndarray) -> None:
    write_series(tmp_path / "s", phantom, slope=0.5, intercept=-1000.0)
    v = read_ct(tmp_path / "s")
    assert v.case_id == "s"
    np.testing.assert_allclose(v.hu, lps_to_ras_canonical(np.rint((phantom + 1000) / 0.5) * 0.5 - 1000), atol=1e-3)
    assert v.meta["format"] == "dicom" and v.meta["rescale_slopes"] == [0.5]
    np.testing.assert_allclose(v.spacing, (2.0, 2.0, 3.0))
    # LPS (-30, -30, 0) is RAS (30, 30, 0): the corner voxel of the stored array
    corner = v.original_affine[:3, 3]
    np.testing.assert_allclose(corner, [30.0, 30.0, 0.0])


def test_descending_positions_still_sorted(tmp_path: Path, phantom: np.ndarray) -> None:
    n = phantom.shape[2]
    zs = [100.0 - 3.0 * k for k in range(n)]  # slice k is LOWER as k grows
    write_series(tmp_path / "d", phantom, z_positions=zs)
    v = read_ct(tmp_path / "d")
    # canonical slice 0 is the most inferior = the last input slice
    np.testing.assert_allclose(v.hu[:, :, 0], lps_to_ras_canonical(phantom)[:, :, -1], atol=1)


def test_uneven_spacing_reported(tmp_path: Path, phantom: np.ndarray) -> None:
    n = phantom.shape[2]
    zs = [3.0 * k + (1.0 if k > n // 2 else 0.0) for k in range(n)]
    write_series(tmp_path / "u", phantom, z_positions=zs)
    v = read_ct(tmp_path / "u")
    assert any("uneven slice spacing" in w for w in v.meta["warnings"])


def test_gantry_tilt_reported(tmp_path: Path, phantom: np.ndarray) -> None:
    write_series(tmp_path / "t", phantom, tilt_mm_per_slice=0.5)
    v = read_ct(tmp_path / "t")
    assert v.meta["gantry_tilt_deg"] == pytest.approx(9.46, abs=0.05)
    assert any("gantry tilt" in w for w in v.meta["warnings"])


def test_mixed_series_is_an_error_or_picks_largest(tmp_path: Path, phantom: np.ndarray) -> None:
    write_series(tmp_path / "m", phantom)
    write_series(tmp_path / "m", phantom[:, :, :17], start_index=100)
    with pytest.raises(VolumeReadError, match=r"m: mixed DICOM series \(2 SeriesInstanceUIDs"):
        read_ct(tmp_path / "m")
    v = read_ct(tmp_path / "m", dicom_series="largest")
    assert v.shape[2] == phantom.shape[2]
    assert any("mixed DICOM series" in w for w in v.meta["warnings"])


def test_duplicate_positions_and_non_ct(tmp_path: Path, phantom: np.ndarray) -> None:
    n = phantom.shape[2]
    write_series(tmp_path / "dup", phantom, z_positions=[0.0] + [3.0 * k for k in range(n - 1)])
    with pytest.raises(VolumeReadError, match="duplicate slice position"):
        read_ct(tmp_path / "dup")
    write_series(tmp_path / "mr", phantom, modality="MR")
    with pytest.raises(VolumeReadError, match="not CT"):
        read_ct(tmp_path / "mr")


def test_stray_files_are_skipped(tmp_path: Path, phantom: np.ndarray) -> None:
    write_series(tmp_path / "s", phantom)
    (tmp_path / "s" / "README.txt").write_text("notes")
    v = read_ct(tmp_path / "s")
    assert v.shape == phantom.shape
    assert any("skipped 1" in w for w in v.meta["warnings"])


def test_a_series_above_the_voxel_limit_is_refused_before_its_pixels_are_decoded(
    tmp_path: Path, phantom: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pydicom.dataset

    write_series(tmp_path / "s", phantom)
    decoded: list[int] = []
    original = pydicom.dataset.Dataset.pixel_array
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array",
                        property(lambda ds: decoded.append(1) or original.fget(ds)))  # type: ignore[attr-defined]
    with pytest.raises(VolumeReadError, match=r"24x20x18 = 8,640 voxels, above the limit of 8,000"):
        read_ct(tmp_path / "s", max_voxels=8_000)
    assert decoded == []
    assert read_ct(tmp_path / "s", max_voxels=8_640).hu.shape == (24, 20, 18)
    assert len(decoded) == 18

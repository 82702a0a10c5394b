"""Volume reading refuses oversized headers before decompressing, data shorter than its header, and inputs that
are not regular files; a header that under-declares its data never makes us decompress the rest."""

from __future__ import annotations

import contextlib
import os
import tracemalloc
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from isal import igzip

from radgenome.corpus.volume import DEFAULT_MAX_VOXELS, VolumeReadError, read_ct, read_nifti_image


def header_bytes(shape: tuple[int, ...], dtype: Any = np.int16) -> bytes:
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr["vox_offset"] = 352
    hdr.set_sform(np.eye(4), code=1)
    return hdr.binaryblock + b"\x00" * 4


def gz(path: Path, *chunks: bytes) -> Path:
    with igzip.open(path, "wb", compresslevel=1) as fh:
        for c in chunks:
            fh.write(c)
    return path


def peak_mib(fn: Any) -> float:
    tracemalloc.start()
    with contextlib.suppress(VolumeReadError):
        fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def test_default_limit_fits_chest_ct_with_room_to_spare() -> None:
    assert DEFAULT_MAX_VOXELS >= 512 * 512 * 1000 * 2  # CT-RATE's longest scans are under 1,000 slices


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    # 1024^3 int16 declared; 64 MiB of zeros follow (a few hundred KiB compressed) — never decompressed
    bomb = gz(tmp_path / "bomb.nii.gz", header_bytes((1024, 1024, 1024)), *([b"\x00" * 2**24] * 4))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(VolumeReadError, match=r"1024x1024x1024 int16 = 1,073,741,824 voxels, above the limit.*"
                                              r"refused before decompressing"):
        read_ct(bomb)
    assert peak_mib(lambda: read_ct(bomb)) < 8


def test_byte_limit_for_wide_voxel_types(tmp_path: Path) -> None:
    p = gz(tmp_path / "wide.nii.gz", header_bytes((512, 512, 600), np.complex128))
    with pytest.raises(VolumeReadError, match="bytes of voxel data, above the limit"):
        read_ct(p)


def test_lower_limit_from_the_caller(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    p = h.write_nifti(tmp_path / "ct.nii.gz", hu.astype(np.int16), h.ras_affine())
    with pytest.raises(VolumeReadError, match="above the limit of 1,000 voxels"):
        read_ct(p, max_voxels=1_000)
    assert read_ct(p, max_voxels=hu.size).hu.shape == hu.shape


def test_a_header_that_under_declares_its_data_is_read_without_decompressing_the_rest(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    data = np.asarray(hu, dtype=np.int16).tobytes(order="F")
    p = gz(tmp_path / "tail.nii.gz", header_bytes(hu.shape), data, *([b"\x00" * 2**24] * 4))
    vol = read_ct(p)
    assert vol.hu.shape == hu.shape
    assert peak_mib(lambda: read_ct(p)) < 16  # not the 64 MiB tail


def test_data_shorter_than_the_header_claims(h: Any, tmp_path: Path) -> None:
    hu, _ = h.chest_ras()
    data = np.asarray(hu, dtype=np.int16).tobytes(order="F")
    p = gz(tmp_path / "short.nii.gz", header_bytes(hu.shape), data[: len(data) // 2])
    with pytest.raises(VolumeReadError, match=r"short\.nii\.gz: truncated NIfTI: header declares 40x36x32 int16"):
        read_ct(p)
    raw = tmp_path / "short.nii"
    raw.write_bytes(header_bytes(hu.shape) + data[:100])
    with pytest.raises(VolumeReadError, match=r"short\.nii: truncated NIfTI.*holds 100"):
        read_ct(raw)


def test_non_regular_files_are_refused_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.nii.gz"
    os.mkfifo(fifo)
    with pytest.raises(VolumeReadError, match="FIFO"):
        read_ct(fifo)  # a blocking open() would hang here forever
    with pytest.raises(VolumeReadError, match="FIFO"):
        read_nifti_image(fifo)  # the label-map reader of `radgenome mask`
    (tmp_path / "gone.nii.gz").symlink_to(tmp_path / "nowhere.nii.gz")
    with pytest.raises(VolumeReadError, match="dangling symbolic link"):
        read_ct(tmp_path / "gone.nii.gz")
    with pytest.raises(VolumeReadError, match="no such file"):
        read_ct(tmp_path / "missing.nii.gz")


def test_bad_headers_are_named(tmp_path: Path) -> None:
    p = gz(tmp_path / "neg.nii.gz", header_bytes((10, 10, 10))[:40] + b"\xff" * 308 + b"\x00" * 4)
    with pytest.raises(VolumeReadError, match=r"neg\.nii\.gz"):
        read_ct(p)
    q = tmp_path / "short_header.nii"
    q.write_bytes(b"\x5c\x01\x00\x00" + b"\x00" * 20)
    with pytest.raises(VolumeReadError, match="not a NIfTI image"):
        read_ct(q)

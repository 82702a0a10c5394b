"""Shared helpers for the imaging tests: small synthetic chest-like CTs written in any orientation."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def chest_ras(shape: tuple[int, int, int] = (40, 36, 32), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A tiny chest-like HU volume on a canonical RAS grid, and a label map: 1 = left lung, 2 = right lung.

    Axis 0 grows towards the patient's right, so the left lung sits at low axis-0 indices.
    """
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    hu = np.full(shape, -1000.0)
    body = (x / 0.9) ** 2 + (y / 0.75) ** 2 < 1
    hu[body] = 40
    left = ((x + 0.4) / 0.3) ** 2 + (y / 0.45) ** 2 + (z / 0.8) ** 2 < 1
    right = ((x - 0.4) / 0.3) ** 2 + (y / 0.45) ** 2 + (z / 0.8) ** 2 < 1
    hu[left | right] = -850
    hu += rng.normal(0, 5, shape)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[left] = 1
    labels[right] = 2
    return np.rint(hu).astype(np.int16), labels


def ras_affine(spacing: tuple[float, float, float] = (2.0, 2.0, 3.0), origin=(-40.0, -36.0, -48.0)) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = np.diag(spacing)
    a[:3, 3] = origin
    return a


def reorient(array: np.ndarray, affine: np.ndarray, codes: str) -> tuple[np.ndarray, np.ndarray]:
    """The same physical image stored with axis codes ``codes`` (e.g. ``LPS``, ``SRA``)."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

    start = axcodes2ornt(("R", "A", "S"))
    end = axcodes2ornt(tuple(codes))
    t = ornt_transform(start, end)
    out = apply_orientation(array, t)
    return np.ascontiguousarray(out), affine @ inv_ornt_aff(t, array.shape)


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray, **header: float) -> Path:
    img = nib.Nifti1Image(array, affine)
    for k, v in header.items():
        img.header[k] = v
    nib.save(img, str(path))
    return path


@pytest.fixture
def bench(benchmarks_dir: Path) -> Path:
    return benchmarks_dir


class Helpers:
    """The helpers above, handed to tests through the ``h`` fixture (tests/imaging has no __init__.py)."""

    chest_ras = staticmethod(chest_ras)
    ras_affine = staticmethod(ras_affine)
    reorient = staticmethod(reorient)
    write_nifti = staticmethod(write_nifti)


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers

"""Shared fixtures: the read-only benchmark folder ``../shared`` beside the repository, and small synthetic
chest-like CTs written in any orientation (``h``: used by the corpus and segmentation tests).

Tests that need the benchmarks take the ``benchmarks_dir`` / ``reference_dir`` fixtures (never a path of their own)
and skip when it is absent. With ``RADGENOME_REQUIRE_BENCHMARKS=1`` (set by ``.ci/run`` whenever
``../shared/benchmarks`` exists) such a test fails instead of skipping, so a benchmark check can never go quiet in
CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BENCHMARKS = SHARED / "benchmarks"
REFERENCE = SHARED / "reference"
REQUIRE_BENCHMARKS = os.environ.get("RADGENOME_REQUIRE_BENCHMARKS") == "1"
_SHARED_FIXTURES = ("benchmarks_dir", "reference_dir")


def _absent(what: Path) -> None:
    if REQUIRE_BENCHMARKS:
        pytest.fail(f"{what} is absent but RADGENOME_REQUIRE_BENCHMARKS=1")
    pytest.skip(f"{what} is absent")


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    if not (BENCHMARKS / "README.md").is_file():
        _absent(BENCHMARKS)
    return BENCHMARKS


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "radgenome_region_paths.tsv").is_file():
        _absent(REFERENCE)
    return REFERENCE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in _SHARED_FIXTURES):
            item.add_marker(pytest.mark.benchmark_data)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if REQUIRE_BENCHMARKS and report.skipped and item.get_closest_marker("benchmark_data"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: a benchmark test skipped although ../shared/benchmarks must be used"
    return report


# ------------------------------------------------------------------------------- synthetic chest volumes
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


class Helpers:
    """The helpers above, handed to tests through the ``h`` fixture (tests/ has no __init__.py)."""

    chest_ras = staticmethod(chest_ras)
    ras_affine = staticmethod(ras_affine)
    reorient = staticmethod(reorient)
    write_nifti = staticmethod(write_nifti)


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers

"""DICOM series folders -> HU array + RAS affine (pydicom).

Slices are sorted by their position along the slice normal (``ImagePositionPatient`` · normal), never by file
name or InstanceNumber; every slice's RescaleSlope/RescaleIntercept is applied; uneven slice spacing, gantry
tilt and duplicate positions are detected and reported. A folder holding several series
(SeriesInstanceUID) is an error by default — which series is "the" CT is not ours to guess — unless the caller
asks for ``series="largest"``, which picks the series with most slices and records a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

SeriesPolicy = Literal["error", "largest"]

_NON_CT_MODALITIES = {"MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT_MR"}


class DicomSeriesError(ValueError):
    """A DICOM folder that cannot be read as one CT series (the message names the folder and the problem)."""


@dataclass
class DicomSeries:
    array: np.ndarray
    """HU values, array axes (column, row, slice) = DICOM (i, j, k)."""
    affine: np.ndarray
    """4x4 voxel -> RAS+ mm affine."""
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def looks_like_dicom_dir(folder: Path) -> bool:
    """True when ``folder`` holds at least one file with the DICOM preamble (``DICM`` at byte 128)."""
    if not folder.is_dir():
        return False
    return any(path.is_file() and _has_dicm_magic(path) for path in sorted(folder.iterdir()))


def _has_dicm_magic(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _candidate_files(folder: Path) -> list[Path]:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    return files


def read_dicom_series(
    folder: str | Path, *, series: SeriesPolicy = "error", max_voxels: int | None = None
) -> DicomSeries:
    """Read one CT series from ``folder`` (see module doc for the checks). ``max_voxels``: a series whose
    rows x columns x slices exceed it is refused before any pixel data is decoded."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = Path(folder)
    if not folder.is_dir():
        raise DicomSeriesError(f"{folder}: not a folder")
    headers: list[tuple[Path, Any]] = []
    skipped: list[str] = []
    for path in _candidate_files(folder):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
            skipped.append(f"{path.name} ({exc.__class__.__name__})")
            continue
        if "ImagePositionPatient" not in ds or "PixelSpacing" not in ds:
            skipped.append(f"{path.name} (no image geometry)")
            continue
        headers.append((path, ds))
    if not headers:
        raise DicomSeriesError(f"{folder}: no readable DICOM image slices found")

    by_series: dict[str, list[tuple[Path, Any]]] = {}
    for path, ds in headers:
        by_series.setdefault(str(getattr(ds, "SeriesInstanceUID", "") or "<missing>"), []).append((path, ds))
    warnings: list[str] = []
    if skipped:
        warnings.append(f"skipped {len(skipped)} non-image or unreadable files: {', '.join(skipped[:5])}")
    if len(by_series) > 1:
        summary = ", ".join(
            f"{uid} ({len(v)} slices)" for uid, v in sorted(by_series.items(), key=lambda kv: -len(kv[1]))
        )
        if series == "error":
            raise DicomSeriesError(
                f"{folder}: mixed DICOM series ({len(by_series)} SeriesInstanceUIDs: {summary}); "
                "put each series in its own folder (or pick the largest with series='largest')"
            )
        warnings.append(f"mixed DICOM series ({summary}); using the largest")
    uid, chosen = max(by_series.items(), key=lambda kv: len(kv[1]))

    modality = str(getattr(chosen[0][1], "Modality", "") or "")
    if modality and modality.upper() != "CT":
        raise DicomSeriesError(f"{folder}: series modality is {modality!r}, not CT")

    orient = np.array([float(v) for v in chosen[0][1].ImageOrientationPatient], dtype=np.float64)
    row_cos, col_cos = orient[:3], orient[3:]
    normal = np.cross(row_cos, col_cos)
    for path, ds in chosen:
        other = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64)
        if not np.allclose(other, orient, atol=1e-3):
            raise DicomSeriesError(f"{folder}: slice {path.name} has a different ImageOrientationPatient")

    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in chosen], dtype=np.float64)
    dist = positions @ normal
    order = np.argsort(dist, kind="stable")
    chosen = [chosen[i] for i in order]
    positions = positions[order]
    dist = dist[order]

    n = len(chosen)
    if n > 1:
        gaps = np.diff(dist)
        if np.any(np.abs(gaps) < 1e-3):
            dup = int(np.count_nonzero(np.abs(gaps) < 1e-3))
            raise DicomSeriesError(f"{folder}: {dup} duplicate slice position(s) in series {uid}")
        step = float(np.median(gaps))
        spread = float(gaps.max() - gaps.min())
        if spread > max(0.01, 0.01 * step):
            warnings.append(
                f"uneven slice spacing: gaps {gaps.min():.3f}..{gaps.max():.3f} mm "
                f"(median {step:.3f} mm used)"
            )
        stack = (positions[-1] - positions[0]) / (n - 1)
        cos_tilt = abs(float(np.dot(stack, normal))) / max(float(np.linalg.norm(stack)), 1e-9)
        tilt_deg = math.degrees(math.acos(min(1.0, cos_tilt)))
        if tilt_deg > 0.1:
            warnings.append(
                f"gantry tilt {tilt_deg:.2f} degrees: slices are sheared; the affine keeps the true geometry"
            )
        # the stacking vector: along the actual slice positions (shear kept), with the median gap length
        slice_vec = stack / max(float(np.dot(stack, normal)), 1e-9) * step
    else:
        thickness = float(getattr(chosen[0][1], "SliceThickness", 1.0) or 1.0)
        slice_vec = normal * thickness
        tilt_deg = 0.0

    row_spacing, col_spacing = (float(v) for v in chosen[0][1].PixelSpacing)
    rows, cols = int(chosen[0][1].Rows), int(chosen[0][1].Columns)
    if max_voxels is not None and rows * cols * n > max_voxels:
        raise DicomSeriesError(
            f"{folder}: series declares {cols}x{rows}x{n} = {rows * cols * n:,} voxels, above the limit of "
            f"{max_voxels:,} voxels (refused before decoding pixels)"
        )
    volume = np.empty((cols, rows, n), dtype=np.float32)
    slopes: set[float] = set()
    intercepts: set[float] = set()
    for k, (path, _) in enumerate(chosen):
        ds = pydicom.dcmread(path, force=True)
        if int(ds.Rows) != rows or int(ds.Columns) != cols:
            raise DicomSeriesError(
                f"{folder}: slice {path.name} is {ds.Rows}x{ds.Columns}, expected {rows}x{cols}"
            )
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # pydicom raises many types for missing codecs / truncated data
            raise DicomSeriesError(f"{folder}: cannot decode pixels of {path.name}: {exc}") from exc
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        inter = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        slopes.add(slope)
        intercepts.add(inter)
        volume[:, :, k] = (pixels.astype(np.float32) * slope + inter).T

    lps = np.eye(4)
    lps[:3, 0] = row_cos * col_spacing
    lps[:3, 1] = col_cos * row_spacing
    lps[:3, 2] = slice_vec
    lps[:3, 3] = positions[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps

    if all(float(s).is_integer() for s in slopes) and all(float(i).is_integer() for i in intercepts):
        lo, hi = float(volume.min()), float(volume.max())
        if lo >= -32768 and hi <= 32767:
            volume = volume.astype(np.int16)
    meta = {
        "format": "dicom",
        "series_instance_uid": uid,
        "n_slices": n,
        "rescale_slopes": sorted(slopes),
        "rescale_intercepts": sorted(intercepts),
        "gantry_tilt_deg": round(tilt_deg, 3),
        "modality": modality or "unknown",
    }
    return DicomSeries(array=volume, affine=affine, meta=meta, warnings=warnings)

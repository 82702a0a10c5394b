"""CT-RATE metadata tables and the "is this volume already in HU?" rule.

CT-RATE's NIfTI files store raw scanner values (air around 0, water around 1024) and usually leave the
header's ``scl_slope`` unset; the table ``VolumeName,RescaleSlope,RescaleIntercept,XYSpacing,ZSpacing,...``
holds the conversion. Applying it to a volume that is already in HU shifts every voxel by -1024 HU (a known
CT-RATE pitfall), so :func:`classify_intensities` decides first, from the intensities themselves, whether the
array looks like HU, like raw stored values, or like neither (MR-like, corrupt).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radgenome.corpus.files import check_regular_file
from radgenome.csvcells import unescape_cell

IntensityKind = Literal["hu", "raw", "unknown"]


@dataclass(frozen=True)
class MetadataRow:
    """One CT-RATE metadata row (only the fields radgenome uses; the rest are kept in ``extra``)."""

    volume_name: str
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    xy_spacing: tuple[float, float] | None = None
    z_spacing: float | None = None
    extra: tuple[tuple[str, str], ...] = ()


def volume_stem(name: str) -> str:
    """``valid_1_a_1.nii.gz`` -> ``valid_1_a_1`` (also strips ``.nii``)."""
    base = Path(name).name
    for suffix in (".nii.gz", ".nii"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _float(value: str | None) -> float | None:
    if value is None or not str(value).strip():
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _spacing_pair(value: str | None) -> tuple[float, float] | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        parsed = json.loads(text.replace("(", "[").replace(")", "]"))
    except json.JSONDecodeError:
        parts = [p for p in text.replace("[", " ").replace("]", " ").replace(",", " ").split() if p]
        try:
            parsed = [float(p) for p in parts]
        except ValueError:
            return None
    if isinstance(parsed, int | float):
        return (float(parsed), float(parsed))
    if isinstance(parsed, list) and len(parsed) >= 2:
        return (float(parsed[0]), float(parsed[1]))
    return None


def parse_metadata_row(row: dict[str, str]) -> MetadataRow:
    name = row.get("VolumeName") or row.get("volume_name") or ""
    known = {"VolumeName", "RescaleSlope", "RescaleIntercept", "XYSpacing", "ZSpacing"}
    return MetadataRow(
        volume_name=name,
        rescale_slope=_float(row.get("RescaleSlope")),
        rescale_intercept=_float(row.get("RescaleIntercept")),
        xy_spacing=_spacing_pair(row.get("XYSpacing")),
        z_spacing=_float(row.get("ZSpacing")),
        extra=tuple((k, str(v)) for k, v in row.items() if k not in known and k is not None),
    )


def read_metadata(path: str | Path) -> dict[str, MetadataRow]:
    """Read a CT-RATE metadata CSV into ``{stem: MetadataRow}`` (stems without ``.nii.gz``).

    The path is checked with ``stat`` first (a FIFO or folder raises :class:`~radgenome.corpus.files.InputFileError`,
    a ``ValueError``); cells escaped by our own CSV writers are unescaped."""
    path = Path(path)
    check_regular_file(path, "metadata table")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "VolumeName" not in reader.fieldnames:
            raise ValueError(f"{path}: metadata CSV needs a VolumeName column (got {reader.fieldnames})")
        out: dict[str, MetadataRow] = {}
        for raw in reader:
            cells = {k: unescape_cell(v) if isinstance(v, str) else v for k, v in raw.items()}
            row = parse_metadata_row(cells)
            if row.volume_name:
                out[volume_stem(row.volume_name)] = row
    return out


@dataclass(frozen=True)
class IntensityReport:
    kind: IntensityKind
    minimum: float
    maximum: float
    air_fraction: float
    """Fraction of voxels in the kind's air band (HU [-1100,-900] or raw [-50,100])."""
    tissue_fraction: float
    """Fraction of voxels in the kind's soft-tissue band (HU [-200,300] or raw [800,1350])."""

    def describe(self) -> str:
        return (
            f"min {self.minimum:g}, max {self.maximum:g}, air fraction {self.air_fraction:.3f}, "
            f"soft-tissue fraction {self.tissue_fraction:.3f}"
        )


def _sample(array: np.ndarray, target: int = 2_000_000) -> np.ndarray:
    step = max(1, round((array.size / target) ** (1 / 3)))
    return np.asarray(array[::step, ::step, ::step], dtype=np.float32)


def classify_intensities(array: np.ndarray) -> IntensityReport:
    """Decide whether a CT array holds HU, raw stored values (HU + ~1024), or neither.

    HU: the minimum is below -500 and at least 2 % of voxels are air-like ([-1100, -900]) — every chest CT
    has air outside the body and in the lungs. Raw: the minimum is above -50 (stored values are unsigned-ish),
    at least 2 % of voxels sit at [-50, 100] (air) and at least 2 % at [800, 1350] (soft tissue, HU -224..326
    once the usual -1024 intercept is applied). Anything else — e.g. an MR volume with values 0..2000 and no
    air/tissue structure — is ``unknown``.
    """
    s = _sample(array)
    lo, hi = float(s.min()), float(s.max())
    n = float(s.size)
    hu_air = float(np.count_nonzero((s >= -1100) & (s <= -900))) / n
    hu_tissue = float(np.count_nonzero((s >= -200) & (s <= 300))) / n
    if lo < -500 and hu_air >= 0.02:
        return IntensityReport("hu", lo, hi, hu_air, hu_tissue)
    raw_air = float(np.count_nonzero((s >= -50) & (s <= 100))) / n
    raw_tissue = float(np.count_nonzero((s >= 800) & (s <= 1350))) / n
    if lo >= -50 and raw_air >= 0.02 and raw_tissue >= 0.02:
        return IntensityReport("raw", lo, hi, raw_air, raw_tissue)
    return IntensityReport("unknown", lo, hi, max(hu_air, raw_air), max(hu_tissue, raw_tissue))

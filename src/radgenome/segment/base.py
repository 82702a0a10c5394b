"""The segmenter interface shared by every backend.

A backend receives a :class:`CTVolume` — HU intensities in canonical RAS orientation (array axis 0 grows
towards the patient's Right, axis 1 towards Anterior, axis 2 towards Superior) with its RAS affine — and
returns a :class:`Segmentation` on that same canonical grid. Writing back onto the input's own grid and
affine is the caller's job (``radgenome.segment.io``), so no backend ever has to think about orientation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


class SegmentationError(RuntimeError):
    """A backend could not segment a case (the message names the case and the problem)."""


class BackendUnavailableError(RuntimeError):
    """A backend's software or weights are not installed (the message says what is expected where)."""


@dataclass
class CTVolume:
    """A CT volume in HU on a canonical RAS grid, with the metadata needed to go back to the input grid."""

    case_id: str
    """The input's stem (file name without ``.nii.gz``/``.nii``, or the DICOM folder name)."""
    hu: np.ndarray
    """3-D HU array (float32 or int16) in canonical RAS axis order."""
    affine: np.ndarray
    """4x4 voxel-to-world (RAS+, mm) affine of ``hu``."""
    source: str = ""
    """Where the volume came from (path)."""
    original_affine: np.ndarray | None = None
    """The input's own affine (before reorientation), for writing masks back on the input grid."""
    original_shape: tuple[int, ...] | None = None
    """The input's own array shape."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Provenance of the read: format, rescale applied, warnings (gantry tilt, uneven spacing, ...)."""

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the three array axes."""
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(zooms[0]), float(zooms[1]), float(zooms[2]))

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.hu.shape
        return (int(s[0]), int(s[1]), int(s[2]))


@dataclass
class StructureInfo:
    """How one structure of a segmentation was made."""

    method: str
    """Short description of the method (``threshold+cc3d``, ``totalsegmentator:total``, ``anatomical-approx``)."""
    confidence: float
    """0..1: how far later stages can trust the mask (1 = model or reference, <0.5 = rough approximation)."""
    extra: bool = False
    """True for a structure outside RadGenome's 210 mask names (e.g. ``body``, ``pleura``)."""


@dataclass
class Segmentation:
    """A non-overlapping label map on the canonical grid of the :class:`CTVolume` it was made from."""

    labelmap: np.ndarray
    """Integer array (uint8/uint16), same shape as ``CTVolume.hu``; 0 = background."""
    labels: dict[int, str]
    """Label id -> structure name (RadGenome mask names, or extras flagged in ``info``)."""
    info: dict[str, StructureInfo]
    """Structure name -> how it was made."""
    backend: str
    version: str
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Structures that were expected but not found, and other notes to report (never silently dropped)."""


@runtime_checkable
class Segmenter(Protocol):
    """A segmentation backend."""

    name: str

    @property
    def version(self) -> str: ...

    def settings(self) -> dict[str, Any]:
        """The settings that shaped the output (recorded as provenance)."""
        ...

    def segment(self, volume: CTVolume) -> Segmentation:
        """Segment one volume. Raises :class:`SegmentationError` or :class:`BackendUnavailableError`."""
        ...

"""A CT volume and its segmentation: what corpus readers produce, every segmentation backend reads and writes, and
the writers and region masks work from.

A :class:`CTVolume` holds HU intensities in canonical RAS orientation (array axis 0 grows towards the patient's
Right, axis 1 towards Anterior, axis 2 towards Superior) with its RAS affine, and remembers the input's own affine
and shape. A :class:`Segmentation` is a non-overlapping label map on a known grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
    """A non-overlapping label map.

    A backend returns it on the canonical grid of the :class:`CTVolume` it was made from (``affine`` None);
    :func:`radgenome.segment` returns it on the input's own grid, with that grid's ``affine``.
    """

    labelmap: np.ndarray
    """Integer array (uint8/uint16); 0 = background."""
    labels: dict[int, str]
    """Label id -> structure name (RadGenome mask names, or extras flagged in ``info``)."""
    info: dict[str, StructureInfo]
    """Structure name -> how it was made."""
    backend: str
    version: str
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Structures that were expected but not found, and other notes to report (never silently dropped)."""
    affine: np.ndarray | None = None
    """4x4 voxel-to-world (RAS+, mm) affine of ``labelmap``; None: the canonical grid of the segmented volume."""

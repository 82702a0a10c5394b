"""CT volumes and region masks served by case id.

Nothing here takes a path from a request: a case id is looked up among the build's records (``OUT/cases/``,
listed at start-up), and the files are the ones those records name. Region masks are computed on demand
with :func:`radgenome.regions.region_mask` from the case's label map, on the label map's grid (the CT's own grid,
ARCHITECTURE §1.2), written as gzipped NIfTI bytes and kept in a small LRU cache.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radgenome.corpus.volume import nifti_bytes
from radgenome.model import CaseRecord, OutputLayout
from radgenome.regions import NotAMaskError, region_mask
from radgenome.review.sources import CaseIndex
from radgenome.segmentation.io import read_segmentation


class NoVolumeError(LookupError):
    """The case has no CT, no label map, or the region has no mask."""


@dataclass(frozen=True)
class MaskBytes:
    data: bytes
    """gzipped NIfTI-1, uint8 0/1."""
    voxels: int
    centroid_mm: list[float] | None


def _centroid(mask: np.ndarray, affine: np.ndarray) -> tuple[int, list[float] | None]:
    """(voxels, centroid in world mm) from per-axis counts (no index arrays the size of the mask)."""
    counts = [mask.sum(axis=tuple(a for a in range(3) if a != axis), dtype=np.int64) for axis in range(3)]
    voxels = int(counts[0].sum())
    if not voxels:
        return 0, None
    ijk = [float((np.arange(c.size) * c).sum()) / voxels for c in counts]
    return voxels, [round(float(v), 2) for v in (affine @ np.array([*ijk, 1.0]))[:3]]


def _resolve(out: Path, name: str | None) -> Path | None:
    return OutputLayout(out).resolve(name) if name else None


class Volumes:
    def __init__(self, out: Path, cases: CaseIndex, cache_items: int = 32) -> None:
        self.out = Path(out)
        self.cases = cases
        self._masks: OrderedDict[tuple[str, str], MaskBytes] = OrderedDict()
        self._labelmaps: OrderedDict[str, tuple[np.ndarray, np.ndarray, dict[int, str]]] = OrderedDict()
        self._cache_items = cache_items
        self._lock = threading.Lock()

    def record(self, case_id: str) -> CaseRecord:
        return self.cases.record(case_id)

    def ct_path(self, case_id: str) -> Path:
        """The CT the record names: a NIfTI file, or a DICOM series folder (see :meth:`ct_dicom_bytes`)."""
        rec = self.record(case_id)
        path = _resolve(self.out, rec.volume_path)
        if path is None or not (path.is_file() or path.is_dir()):
            raise NoVolumeError(f"case {case_id}: no CT volume")
        return path

    def ct_dicom_bytes(self, case_id: str) -> bytes:
        """A DICOM series as gzipped NIfTI (HU, int16 where it fits), made once per case and cached."""
        key = (case_id, "\x00ct")
        with self._lock:
            hit = self._masks.get(key)
        if hit is not None:
            return hit.data
        from radgenome.corpus.volume import read_ct

        vol = read_ct(self.ct_path(case_id))
        hu = vol.hu if vol.hu.dtype.kind in "iu" else np.rint(vol.hu).astype(np.int16)
        data = gzip.compress(nifti_bytes(hu, vol.affine), compresslevel=1)
        with self._lock:
            self._masks[key] = MaskBytes(data, 0, None)
        return data

    def labelmap_path(self, case_id: str) -> Path:
        rec = self.record(case_id)
        path = _resolve(self.out, rec.masks.labelmap)
        if path is None or not path.is_file():
            raise NoVolumeError(f"case {case_id}: no label map")
        return path

    def _labelmap(self, case_id: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        with self._lock:
            hit = self._labelmaps.get(case_id)
            if hit is not None:
                self._labelmaps.move_to_end(case_id)
                return hit
        labelmap, affine, labels, _ = read_segmentation(self.labelmap_path(case_id))
        with self._lock:
            self._labelmaps[case_id] = (labelmap, affine, labels)
            while len(self._labelmaps) > 4:
                self._labelmaps.popitem(last=False)
        return labelmap, affine, labels

    def mask(self, case_id: str, node_or_path: str) -> MaskBytes:
        key = (case_id, node_or_path)
        with self._lock:
            hit = self._masks.get(key)
            if hit is not None:
                self._masks.move_to_end(key)
                return hit
        labelmap, affine, labels = self._labelmap(case_id)
        try:
            mask = region_mask(labelmap, labels, node_or_path)
        except (NotAMaskError, KeyError) as exc:
            raise NoVolumeError(f"{node_or_path!r} has no mask: {exc}") from exc
        voxels, centroid = _centroid(mask, affine)
        raw = nifti_bytes(mask.astype(np.uint8), affine)
        result = MaskBytes(gzip.compress(raw, compresslevel=1), voxels, centroid)
        with self._lock:
            self._masks[key] = result
            while len(self._masks) > self._cache_items:
                self._masks.popitem(last=False)
        return result

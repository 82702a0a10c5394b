"""Write and read segmentation outputs exactly as ARCHITECTURE §1.2 says.

``<stem>.nii.gz``: integer label map (uint8, or uint16 from 256 labels) on the input volume's own grid and
affine (``space="native"``, the canonical reorientation undone exactly) or on RadGenome's SAT grid
(``space="sat"``). ``<stem>.json``: labels, backend, version, settings, space, source, per-structure stats
(voxels, volume_ml, bbox_ijk on the written grid, centroid_mm in world RAS mm, method, confidence, extra),
warnings. Files are written to a temporary name and moved into place (``os.replace``), so a crash never leaves
a half-written output that a resumed run would mistake for a finished one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from radgenome.anatomy.vocabulary import is_mask_name
from radgenome.atomic import atomic_write_bytes
from radgenome.corpus.metadata import volume_stem
from radgenome.corpus.volume import from_canonical, nifti_bytes, read_nifti_image
from radgenome.model import CTVolume, OutputLayout, Segmentation
from radgenome.regions import RegionStatus, label_profiles, region_mask, region_status, structure_stats

Space = Literal["native", "sat"]
GZIP_LEVEL = 2
"""isal compression level (0-3): 2 is close to zlib's 6 in size and several times faster."""


class SegmentationContractError(ValueError):
    """A segmentation that would break the §1.2 contract (unknown names not flagged extra, bad labels...)."""


def labelmap_dtype(max_label: int) -> np.dtype:
    if max_label < 256:
        return np.dtype(np.uint8)
    if max_label < 65536:
        return np.dtype(np.uint16)
    raise SegmentationContractError(f"label id {max_label} does not fit uint16")


def write_nifti(array: np.ndarray, affine: np.ndarray, path: str | Path) -> Path:
    """Atomically write ``array`` as NIfTI-1 (gzip through isal when the name ends in ``.gz``)."""
    from isal import igzip

    path = Path(path)
    raw = nifti_bytes(array, affine)
    if path.name.endswith(".gz"):
        raw = igzip.compress(raw, compresslevel=GZIP_LEVEL)
    atomic_write_bytes(path, raw)
    return path


def write_mask(mask: np.ndarray, affine: np.ndarray, path: str | Path) -> Path:
    return write_nifti(np.asarray(mask, dtype=np.uint8), affine, path)


def validate_segmentation(seg: Segmentation, shape: tuple[int, ...] | None = None, check_voxels: bool = True) -> None:
    """Raise :class:`SegmentationContractError` when ``seg`` breaks §1.2.

    ``check_voxels=False`` skips the scan for unnamed label ids (the writer does it on its own pass).
    """
    if shape is not None and tuple(seg.labelmap.shape) != tuple(shape):
        raise SegmentationContractError(f"label map shape {seg.labelmap.shape} != volume shape {shape}")
    if seg.labelmap.dtype.kind not in "iu":
        raise SegmentationContractError(f"label map must be integer, got {seg.labelmap.dtype}")
    names = list(seg.labels.values())
    if len(set(names)) != len(names):
        raise SegmentationContractError("two label ids share a structure name")
    for label_id, name in seg.labels.items():
        if int(label_id) <= 0:
            raise SegmentationContractError(f"label id {label_id} for {name!r}: ids start at 1 (0 = background)")
        info = seg.info.get(name)
        if not is_mask_name(name) and not (info is not None and info.extra):
            raise SegmentationContractError(
                f"structure {name!r} is not one of RadGenome's mask names and is not flagged extra"
            )
    if check_voxels:
        _check_named(present_labels(seg.labelmap), seg.labels)


def _check_named(present: set[int], labels: dict[int, str]) -> None:
    unknown = present - {int(i) for i in labels}
    if unknown:
        raise SegmentationContractError(f"label map holds ids without a name: {sorted(unknown)[:20]}")


def present_labels(labelmap: np.ndarray) -> set[int]:
    """Label ids with at least one voxel (slab-wise bincount: much faster than ``np.unique``)."""
    lm = np.asarray(labelmap)
    if lm.size == 0 or lm.max() == 0:
        return set()
    if lm.ndim != 3 or lm.dtype.kind not in "iu" or lm.min() < 0:
        return {int(v) for v in np.unique(lm)} - {0}
    counts = label_profiles(lm, int(lm.max()) + 1)[0].sum(axis=0)
    return {int(i) for i in np.flatnonzero(counts)} - {0}


def output_paths(out_dir: str | Path, stem: str) -> tuple[Path, Path]:
    """``out_dir/<stem>.nii.gz`` and ``out_dir/<stem>.json``."""
    out_dir = Path(out_dir)
    return out_dir / OutputLayout.labelmap_name(stem), out_dir / OutputLayout.sidecar_name(stem)


def labels_on_output_grid(
    seg: Segmentation, volume: CTVolume, space: Space = "native"
) -> tuple[np.ndarray, np.ndarray]:
    """The label map on the written grid and that grid's affine (native input grid or SAT grid)."""
    if space == "native":
        if volume.original_affine is None:
            return seg.labelmap, volume.affine
        out = from_canonical(seg.labelmap, volume.original_affine)
        if volume.original_shape is not None and tuple(out.shape) != tuple(volume.original_shape):
            raise SegmentationContractError(
                f"{volume.case_id}: label map back on the input grid has shape {out.shape}, "
                f"input had {volume.original_shape}"
            )
        return out, volume.original_affine
    if space == "sat":
        from radgenome.segmentation.satspace import resample_labels, sat_grid

        grid = sat_grid(volume)
        return resample_labels(seg.labelmap, volume.affine, grid.shape, grid.affine), grid.affine
    raise ValueError(f"unknown space {space!r} (native or sat)")


def sidecar_dict(
    seg: Segmentation, volume: CTVolume, labelmap: np.ndarray, affine: np.ndarray, space: Space
) -> dict[str, Any]:
    max_id = max([int(labelmap.max()) if labelmap.size else 0, *[int(k) for k in seg.labels]])
    profiles = label_profiles(labelmap, max_id + 1)
    _check_named({int(i) for i in np.flatnonzero(profiles[0].sum(axis=0))} - {0}, seg.labels)
    stats = structure_stats(labelmap, seg.labels, affine, profiles)
    warnings = list(seg.warnings)
    stats_out: dict[str, Any] = {}
    for label_id, name in sorted(seg.labels.items()):
        s = stats[name]
        info = seg.info.get(name)
        entry: dict[str, Any] = {
            "voxels": s.voxels,
            "volume_ml": s.volume_ml,
            "bbox_ijk": s.bbox_ijk,
            "centroid_mm": s.centroid_mm,
            "method": info.method if info else "unknown",
            "confidence": round(float(info.confidence), 3) if info else 0.0,
        }
        if not is_mask_name(name):
            entry["extra"] = True
        if s.voxels == 0:
            warnings.append(f"{name} (label {label_id}) has no voxel on the written grid")
        stats_out[name] = entry
    for w in volume.meta.get("warnings", []):
        if w not in warnings:
            warnings.append(f"input: {w}")
    return {
        "labels": {str(int(k)): v for k, v in sorted(seg.labels.items())},
        "backend": seg.backend,
        "version": seg.version,
        "settings": seg.settings,
        "space": space,
        "source": volume.source,
        "case_id": volume.case_id,
        "shape": [int(s) for s in labelmap.shape],
        "affine": [[round(float(v), 6) for v in row] for row in affine],
        "input": {k: v for k, v in volume.meta.items() if k != "warnings"},
        "stats": stats_out,
        "warnings": warnings,
    }


@dataclass(frozen=True)
class WrittenSegmentation:
    """The two files of a §1.2 output, and the sidecar's content as written (no need to read it back)."""

    labelmap: Path
    sidecar: Path
    sidecar_data: dict[str, Any]


def write_segmentation(
    seg: Segmentation, volume: CTVolume, out_dir: str | Path, space: Space = "native", stem: str | None = None
) -> WrittenSegmentation:
    """Write ``<stem>.nii.gz`` + ``<stem>.json`` (§1.2) into ``out_dir``."""
    validate_segmentation(seg, volume.shape, check_voxels=False)
    labelmap, affine = labels_on_output_grid(seg, volume, space)
    max_label = max([int(k) for k in seg.labels] + [0])
    labelmap = np.asarray(labelmap).astype(labelmap_dtype(max_label), copy=False)
    nii_path, json_path = output_paths(out_dir, stem or volume.case_id)
    sidecar = sidecar_dict(seg, volume, labelmap, affine, space)
    write_nifti(labelmap, affine, nii_path)
    atomic_write_bytes(json_path, (json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return WrittenSegmentation(nii_path, json_path, sidecar)


def sidecar_path(nii_path: str | Path) -> Path:
    nii_path = Path(nii_path)
    return nii_path.with_name(OutputLayout.sidecar_name(volume_stem(nii_path.name)))


def read_label_table(path: str | Path) -> dict[int, str]:
    """A label table: JSON ``{id: name}`` or a sidecar with ``labels``; or TSV/CSV ``id<sep>name`` rows."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("labels"), dict):
            data = data["labels"]
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object {{id: name}}")
        return {int(k): str(v) for k, v in data.items() if int(k) != 0}
    sep = "\t" if path.suffix.lower() in {".tsv", ".txt"} else ","
    out: dict[int, str] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(sep)]
        if len(parts) < 2 or not parts[0]:
            continue
        try:
            label_id = int(float(parts[0]))
        except ValueError:
            continue  # header row
        if label_id != 0:
            out[label_id] = parts[1]
    if not out:
        raise ValueError(f"{path}: no 'id{sep}name' rows found")
    return out


def read_labelmap(nii_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(label map, affine) of a label map file (3-D integer array; float files are rounded)."""
    img = read_nifti_image(Path(nii_path))
    labelmap = np.asarray(img.dataobj.get_unscaled())
    if labelmap.ndim > 3 and all(s == 1 for s in labelmap.shape[3:]):
        labelmap = labelmap.reshape(labelmap.shape[:3])
    if labelmap.dtype.kind == "f":
        labelmap = np.rint(labelmap).astype(np.int32)
    return labelmap, np.asarray(img.affine, dtype=np.float64)


def read_segmentation(nii_path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[int, str], dict[str, Any]]:
    """(label map, affine, labels {id: name}, sidecar dict) of a §1.2 output (sidecar next to the file)."""
    nii_path = Path(nii_path)
    labelmap, affine = read_labelmap(nii_path)
    side = sidecar_path(nii_path)
    sidecar: dict[str, Any] = {}
    labels: dict[int, str] = {}
    if side.exists():
        sidecar = json.loads(side.read_text(encoding="utf-8"))
        labels = {int(k): str(v) for k, v in sidecar.get("labels", {}).items()}
    return labelmap, affine, labels, sidecar


@dataclass(frozen=True)
class RegionMaskFile:
    """A binary region mask written by :func:`write_region_mask`."""

    path: Path
    region: str
    """The node, RadGenome path or top-level region asked for."""
    status: RegionStatus
    voxels: int


def write_region_mask(labelmap_path: str | Path, node_or_path: str, out_path: str | Path) -> RegionMaskFile:
    """Write the binary mask of a node / RadGenome path / top-level region of a §1.2 label map, on its grid.

    Raises ``ValueError`` when the label map has no sidecar with labels, :class:`~radgenome.regions.NotAMaskError`
    for ``others`` and ``UnknownNodeError`` for a name outside the hierarchy and the mask vocabulary.
    """
    labelmap, affine, labels, _ = read_segmentation(labelmap_path)
    if not labels:
        raise ValueError(f"{labelmap_path}: no sidecar JSON with 'labels' next to the label map")
    mask = region_mask(labelmap, labels, node_or_path)
    status = region_status(labelmap, labels, node_or_path)
    path = write_mask(mask, affine, out_path)
    return RegionMaskFile(path, node_or_path, status, int(np.count_nonzero(mask)))

"""Import segmentations made elsewhere onto a volume's canonical grid.

Layouts understood (paired with the volume by its stem):

* RadGenome / SAT ``seg_<stem>/<name>.nii.gz`` folders: one binary mask per name. Files for parent nodes and
  top-level regions are unions of finer files, so a name is skipped when a finer structure below it is also
  present. Masks on another grid (e.g. RadGenome's SAT space) are resampled onto the volume by world
  coordinates (nearest neighbour).
* TotalSegmentator output: a folder ``<stem>/`` with one file per class
  (``lung_upper_lobe_left.nii.gz``), or a
  multilabel file (``--ml``) with its label table; class names go through the TotalSegmentator name map.
* Any label map ``<stem>.nii.gz`` with a label table: ``<stem>.json`` (``{id: name}`` or a §1.2 sidecar),
  ``<stem>.tsv``/``.csv`` (``id,name`` rows), or one table given for all cases.

Overlapping binary masks are painted largest first, so a small structure inside a large one keeps its voxels;
the number of overlapping voxels is reported in the warnings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.anatomy.vocabulary import is_mask_name
from radgenome.corpus.metadata import volume_stem
from radgenome.corpus.volume import VolumeReadError, read_nifti_image, to_canonical
from radgenome.model import CTVolume, Segmentation, StructureInfo
from radgenome.segmentation.base import SegmentationError
from radgenome.segmentation.satspace import resample_labels, sat_grid, sat_input_grid

NameMap = Literal["auto", "totalseg", "none"]
VERSION = "1"


# --------------------------------------------------------------------------- name maps
@cache
def totalseg_name_map() -> dict[str, str]:
    """TotalSegmentator class name -> RadGenome name (``data/totalseg_to_radgenome.json``)."""
    raw = resources.files("radgenome.segmentation").joinpath("data/totalseg_to_radgenome.json").read_text("utf-8")
    return dict(json.loads(raw)["map"])


@cache
def totalseg_total_classes() -> dict[int, str]:
    """TotalSegmentator v2 ``total`` task label ids -> class names."""
    raw = resources.files("radgenome.segmentation").joinpath("data/totalseg_total_classes.json").read_text("utf-8")
    return {int(k): v for k, v in json.loads(raw)["classes"].items()}


def is_known_name(name: str) -> bool:
    return is_mask_name(name) or name in load_hierarchy()


def map_names(labels: dict[int, str], name_map: NameMap = "auto") -> tuple[dict[int, str], list[str]]:
    """Rename label names to RadGenome's; returns (renamed labels, warnings about dropped names).

    ``totalseg``: TotalSegmentator names through the map, unmapped ones dropped. ``auto``: names already in
    the vocabulary/hierarchy are kept, TotalSegmentator names are mapped, anything else is kept as an extra
    structure. ``none``: names kept as they are (non-vocabulary names become extras).
    """
    ts = totalseg_name_map()
    out: dict[int, str] = {}
    dropped: list[str] = []
    for label_id, name in labels.items():
        clean = name.strip()
        if name_map == "none":
            out[label_id] = clean
        elif name_map == "totalseg" or (name_map == "auto" and not is_known_name(clean) and clean in ts):
            if clean in ts:
                out[label_id] = ts[clean]
            else:
                dropped.append(clean)
        else:
            out[label_id] = clean.lower() if is_known_name(clean.lower()) else clean
    warnings = []
    if dropped:
        warnings.append(
            f"dropped {len(dropped)} class(es) without a RadGenome counterpart: {', '.join(sorted(dropped))}"
        )
    return out, warnings


# --------------------------------------------------------------------------- grids
def labels_onto_volume(
    labelmap: np.ndarray, affine: np.ndarray, volume: CTVolume, warnings: list[str] | None = None
) -> np.ndarray:
    """A label map given on (shape, affine) -> the volume's canonical grid (exact on the input grid)."""
    labelmap = np.asarray(labelmap)
    if labelmap.ndim > 3 and all(s == 1 for s in labelmap.shape[3:]):
        labelmap = labelmap.reshape(labelmap.shape[:3])
    if labelmap.ndim != 3:
        raise SegmentationError(f"{volume.case_id}: label map is {labelmap.ndim}-D, expected 3-D")
    same_input = (
        volume.original_affine is not None
        and volume.original_shape is not None
        and tuple(labelmap.shape) == tuple(volume.original_shape)
        and np.allclose(affine, volume.original_affine, atol=1e-3)
    )
    if same_input:
        out, _ = to_canonical(labelmap, affine)
        return np.ascontiguousarray(out)
    if tuple(labelmap.shape) == volume.shape and np.allclose(affine, volume.affine, atol=1e-3):
        return labelmap
    if warnings is not None:
        warnings.append(f"masks on another grid {tuple(labelmap.shape)} were resampled (nearest) onto the volume")
    return resample_labels(labelmap, affine, volume.shape, volume.affine)


def _read_label_image(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        img = read_nifti_image(path)
    except VolumeReadError as exc:
        raise SegmentationError(str(exc)) from exc
    data = np.asarray(img.dataobj)
    if data.dtype.kind == "f":
        data = np.rint(data).astype(np.int32)
    if data.ndim > 3 and all(s == 1 for s in data.shape[3:]):
        data = data.reshape(data.shape[:3])
    return data, np.asarray(img.affine, dtype=np.float64)


# --------------------------------------------------------------------------- building segmentations
@dataclass
class Imported:
    labelmap: np.ndarray
    """On the volume's canonical grid."""
    labels: dict[int, str]
    warnings: list[str] = field(default_factory=list)


def build_segmentation(
    imported: Imported,
    *,
    method: str,
    confidence: float,
    backend: str,
    version: str,
    settings: dict[str, Any] | None = None,
) -> Segmentation:
    """Merge ids that share a name, renumber 1..N, flag non-vocabulary names as extra."""
    names = sorted(set(imported.labels.values()), key=lambda n: (not is_mask_name(n), n))
    new_id = {name: i + 1 for i, name in enumerate(names)}
    max_old = max([int(k) for k in imported.labels] + [int(imported.labelmap.max()), 0])
    lut = np.zeros(max_old + 1, dtype=np.uint16)
    for old, name in imported.labels.items():
        lut[int(old)] = new_id[name]
    dtype = np.uint8 if len(names) < 256 else np.uint16
    labelmap = lut[imported.labelmap.astype(np.intp, copy=False)].astype(dtype)
    info = {name: StructureInfo(method=method, confidence=confidence, extra=not is_mask_name(name)) for name in names}
    return Segmentation(
        labelmap=labelmap,
        labels={i: n for n, i in new_id.items()},
        info=info,
        backend=backend,
        version=version,
        settings=dict(settings or {}),
        warnings=list(imported.warnings),
    )


def _finest(names: list[str]) -> tuple[list[str], list[str]]:
    """Split names into (structures to import, union files to skip)."""
    h = load_hierarchy()
    present = set(names)
    keep, skip = [], []
    for name in names:
        below = h.descendants(name) if name in h else frozenset()
        is_region_union = name in TOP_LEVEL_REGIONS and name not in h
        if is_region_union or (below & present):
            skip.append(name)
        else:
            keep.append(name)
    return keep, skip


def mask_files(folder: Path) -> dict[str, Path]:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and (p.name.endswith(".nii.gz") or p.name.endswith(".nii")):
            files[volume_stem(p.name)] = p
    return files


def import_mask_folder(
    folder: str | Path,
    volume: CTVolume,
    *,
    name_map: NameMap = "auto",
    grid_affine: np.ndarray | None = None,
    threshold: float = 0.5,
) -> Imported:
    """Binary masks ``<name>.nii.gz`` in ``folder`` -> one label map on the volume's canonical grid.

    ``grid_affine`` replaces the files' own affine (SAT writes its outputs with an identity affine on its own
    preprocessed grid). Union files (parents, top-level regions) are skipped when finer files are present.
    """
    folder = Path(folder)
    files = mask_files(folder)
    if not files:
        raise SegmentationError(f"{volume.case_id}: no mask files in {folder}")
    raw_names = {i + 1: n for i, n in enumerate(files)}
    mapped, warnings = map_names(raw_names, name_map)
    by_name: dict[str, list[Path]] = {}
    for i, name in mapped.items():
        by_name.setdefault(name, []).append(files[raw_names[i]])
    keep, skipped = _finest(sorted(by_name))
    if skipped:
        warnings.append(f"skipped {len(skipped)} union mask(s) with finer masks present: {', '.join(skipped)}")
    masks: list[tuple[int, str, np.ndarray]] = []
    ref_shape: tuple[int, ...] | None = None
    ref_affine: np.ndarray | None = None
    empty: list[str] = []
    for name in keep:
        union: np.ndarray | None = None
        for path in by_name[name]:
            img = read_nifti_image(path)
            data = np.asarray(img.dataobj, dtype=np.float32)
            if data.ndim > 3 and all(s == 1 for s in data.shape[3:]):
                data = data.reshape(data.shape[:3])
            affine = grid_affine if grid_affine is not None else np.asarray(img.affine, dtype=np.float64)
            if ref_shape is None:
                ref_shape, ref_affine = data.shape, affine
            elif data.shape != ref_shape or not np.allclose(affine, ref_affine, atol=1e-3):
                raise SegmentationError(f"{path}: grid differs from the other masks in {folder}")
            m = data > threshold
            union = m if union is None else (union | m)
        assert union is not None
        if union.any():
            masks.append((int(union.sum()), name, union))
        else:
            empty.append(name)
    assert ref_shape is not None and ref_affine is not None
    if empty:
        warnings.append(f"{len(empty)} empty mask file(s) ignored: {', '.join(empty[:20])}")
    labels: dict[int, str] = {}
    grid = np.zeros(ref_shape, dtype=np.uint16)
    overlap = 0
    for label_id, (_, name, m) in enumerate(sorted(masks, key=lambda t: -t[0]), start=1):
        overlap += int(np.count_nonzero(grid[m]))
        grid[m] = label_id
        labels[label_id] = name
    if overlap:
        warnings.append(f"{overlap} voxels belonged to several masks; the smaller structure kept them")
    canon = labels_onto_volume(grid, ref_affine, volume, warnings)
    return Imported(canon, labels, warnings)


def import_labelmap(
    path: str | Path, table: dict[int, str], volume: CTVolume, *, name_map: NameMap = "auto"
) -> Imported:
    """A label map file + ``{id: name}`` table -> label map on the volume's canonical grid."""
    data, affine = _read_label_image(Path(path))
    mapped, warnings = map_names(table, name_map)
    present = {int(v) for v in np.unique(data)} - {0}
    unnamed = sorted(present - set(mapped) - set(table))
    if unnamed:
        warnings.append(f"label ids without a name in the table were dropped: {unnamed[:20]}")
    keep = np.zeros(max(present | {0}) + 1, dtype=bool)
    for i in mapped:
        if i < len(keep):
            keep[i] = True
    data = np.where(keep[data.astype(np.intp)], data, 0)
    missing = sorted(n for i, n in mapped.items() if i not in present)
    if missing:
        warnings.append(f"labels in the table but absent from the map: {', '.join(missing[:20])}")
    canon = labels_onto_volume(data, affine, volume, warnings)
    return Imported(canon, {i: n for i, n in mapped.items() if i in present}, warnings)


def identity_grid_affine(folder: Path, volume: CTVolume) -> np.ndarray | None:
    """The grid of masks written with an identity affine (SAT's outputs), or None when they carry a real one.

    SAT saves its masks with ``np.eye(4)`` on its preprocessed grid (RAS, 1x1x3 mm, foreground crop). When the
    mask shape matches that grid rebuilt for this volume, its affine is returned; a shape that matches nothing
    is an error rather than a silent misplacement.
    """
    first = next(iter(mask_files(folder).values()), None)
    if first is None:
        return None
    img = read_nifti_image(first)
    if not np.allclose(img.affine, np.eye(4)):
        return None
    shape = tuple(int(s) for s in img.shape[:3])
    if volume.original_shape is not None and shape == tuple(volume.original_shape):
        return volume.original_affine
    grid, _ = sat_input_grid(volume)
    if shape == grid.shape:
        return grid.affine
    body = sat_grid(volume)
    if shape == body.shape:
        return body.affine
    raise SegmentationError(
        f"{folder}: masks carry an identity affine and their grid {shape} matches neither the input "
        f"{volume.original_shape}, SAT's input grid {grid.shape} nor the body-cropped SAT grid {body.shape}"
    )


# --------------------------------------------------------------------------- discovery
def find_table(stem_path: Path) -> Path | None:
    for suffix in (".json", ".tsv", ".csv", ".txt"):
        cand = stem_path.with_name(stem_path.name + suffix)
        if cand.exists():
            return cand
    return None


@dataclass
class PrecomputedSegmenter:
    """Backend ``precomputed``: looks up ``source_dir`` for the volume's stem (see module doc)."""

    source_dir: Path
    label_table: Path | None = None
    name_map: NameMap = "auto"
    confidence: float = 1.0
    name: str = "precomputed"

    def __post_init__(self) -> None:
        self.source_dir = Path(self.source_dir)
        if self.label_table is not None:
            self.label_table = Path(self.label_table)
        if not self.source_dir.is_dir():
            from radgenome.segmentation.base import BackendUnavailableError

            raise BackendUnavailableError(f"precomputed: source folder {self.source_dir} does not exist")

    @property
    def version(self) -> str:
        return VERSION

    def settings(self) -> dict[str, Any]:
        return {
            "source_dir": str(self.source_dir),
            "label_table": str(self.label_table) if self.label_table else None,
            "name_map": self.name_map,
        }

    def locate(self, stem: str) -> tuple[str, Path]:
        """(layout, path) of the precomputed segmentation of ``stem``."""
        cands = [self.source_dir / f"seg_{stem}", *sorted(self.source_dir.glob(f"*/seg_{stem}"))]
        for c in cands:
            if c.is_dir():
                return "mask-folder", c
        for c in (self.source_dir / f"{stem}.nii.gz", self.source_dir / f"{stem}.nii"):
            if c.is_file():
                return "labelmap", c
        c = self.source_dir / stem
        if c.is_dir() and mask_files(c):
            return "mask-folder", c
        raise SegmentationError(
            f"{stem}: no precomputed segmentation in {self.source_dir} (looked for seg_{stem}/, {stem}.nii.gz, {stem}/)"
        )

    def segment(self, volume: CTVolume) -> Segmentation:
        layout, path = self.locate(volume.case_id)
        from radgenome.segmentation.io import read_label_table

        if layout == "mask-folder":
            grid_affine = identity_grid_affine(path, volume)
            imported = import_mask_folder(path, volume, name_map=self.name_map, grid_affine=grid_affine)
        else:
            table_path = self.label_table or find_table(self.source_dir / volume.case_id)
            if table_path is not None:
                table = read_label_table(table_path)
            elif self.name_map == "totalseg":
                table = totalseg_total_classes()
            else:
                raise SegmentationError(
                    f"{path}: no label table (<stem>.json/.tsv/.csv next to it, or a label_table for all cases; "
                    "use name_map='totalseg' for TotalSegmentator's multilabel 'total' output)"
                )
            imported = import_labelmap(path, table, volume, name_map=self.name_map)
        return build_segmentation(
            imported,
            method=f"precomputed:{layout}",
            confidence=self.confidence,
            backend=self.name,
            version=self.version,
            settings={**self.settings(), "matched": str(path)},
        )

"""Region masks as unions over the region hierarchy, and per-structure statistics (one place for both).

A label map holds the finest structures (non-overlapping). The mask of any hierarchy node is the union of
the node itself and every descendant present in the label map; the mask of a top-level region is the union
over its root nodes. ``others`` is a catch-all for report sentences, not an anatomical mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from radgenome.anatomy import ANATOMICAL_REGIONS, TOP_LEVEL_REGIONS, UnknownNodeError, load_hierarchy
from radgenome.anatomy.vocabulary import is_mask_name

RegionStatus = Literal["ok", "empty", "no structure"]


class NotAMaskError(ValueError):
    """A region that has no mask (``others``)."""


@dataclass(frozen=True)
class StructureStats:
    voxels: int
    volume_ml: float
    bbox_ijk: list[int]
    """[i_min, j_min, k_min, i_max, j_max, k_max], inclusive voxel indices on the label map's grid."""
    centroid_mm: list[float]
    """Centroid in world RAS mm."""


def resolve(node_or_path: str) -> tuple[str, frozenset[str]]:
    """(node or region name, the set of node names whose voxels make its mask).

    Accepts a node name (``left lung``), a RadGenome path (``lung/lung/left lung``) or a top-level region
    (``lung``, ``pleura``). Raises :class:`NotAMaskError` for ``others`` and ``UnknownNodeError`` otherwise.
    """
    h = load_hierarchy()
    text = node_or_path.strip().strip("/")
    if text == "others":
        raise NotAMaskError("'others' is a catch-all region for sentences, not an anatomical mask")
    node = h.node_of_path(text) if "/" in text else text
    members: set[str] = set()
    if node in TOP_LEVEL_REGIONS:
        for root in h.regions.get(node, ()):
            members.add(root)
            members.update(h.descendants(root))
    if node in h:
        members.add(node)
        members.update(h.descendants(node))
    if not members:
        if is_mask_name(node):
            members.add(node)
        else:
            raise UnknownNodeError(f"unknown node, path or region {node_or_path!r}")
    return node, frozenset(members)


def member_ids(labels: dict[int, str], node_or_path: str) -> list[int]:
    """Label ids of ``labels`` that belong to ``node_or_path``'s mask."""
    _, members = resolve(node_or_path)
    return sorted(int(i) for i, name in labels.items() if name in members)


def region_mask(labelmap: np.ndarray, labels: dict[int, str], node_or_path: str) -> np.ndarray:
    """Boolean mask of a node / RadGenome path / top-level region: the union of its structures present."""
    ids = member_ids(labels, node_or_path)
    if not ids:
        return np.zeros(labelmap.shape, dtype=bool)
    if len(ids) == 1:
        return labelmap == ids[0]
    lut = np.zeros(int(max(int(labelmap.max()), max(ids))) + 1, dtype=bool)
    lut[ids] = True
    return lut[labelmap]


def region_status(labelmap: np.ndarray, labels: dict[int, str], node_or_path: str) -> RegionStatus:
    """``ok`` (mask non-empty), ``empty`` (structures labelled but no voxel) or ``no structure``."""
    ids = member_ids(labels, node_or_path)
    if not ids:
        return "no structure"
    present = np.isin(np.unique(labelmap), ids).any()
    return "ok" if present else "empty"


def region_masks(labelmap: np.ndarray, labels: dict[int, str]) -> dict[str, np.ndarray]:
    """Masks of the 10 anatomical top-level regions (empty arrays where nothing is present)."""
    return {r: region_mask(labelmap, labels, r) for r in ANATOMICAL_REGIONS}


def structure_stats(
    labelmap: np.ndarray, labels: dict[int, str], affine: np.ndarray
) -> dict[str, StructureStats]:
    """Voxels, volume (ml), inclusive bbox on this grid and world centroid (mm) of each labelled structure."""
    lm = np.asarray(labelmap)
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    max_id = int(lm.max()) if lm.size else 0
    counts = np.bincount(lm.ravel(), minlength=max_id + 1) if max_id > 0 else np.zeros(1, dtype=np.int64)
    slices = ndimage.find_objects(lm) if max_id > 0 else []
    out: dict[str, StructureStats] = {}
    for label_id, name in sorted(labels.items()):
        i = int(label_id)
        n = int(counts[i]) if i < len(counts) else 0
        if n == 0 or i - 1 >= len(slices) or slices[i - 1] is None:
            out[name] = StructureStats(0, 0.0, [], [])
            continue
        sl = slices[i - 1]
        sub = lm[sl] == i
        idx = np.nonzero(sub)
        centre_vox = np.array([float(idx[a].mean()) + sl[a].start for a in range(3)])
        world = affine[:3, :3] @ centre_vox + affine[:3, 3]
        bbox = [sl[0].start, sl[1].start, sl[2].start, sl[0].stop - 1, sl[1].stop - 1, sl[2].stop - 1]
        out[name] = StructureStats(
            voxels=n,
            volume_ml=round(n * voxel_ml, 3),
            bbox_ijk=[int(b) for b in bbox],
            centroid_mm=[round(float(w), 2) for w in world],
        )
    return out


def run_mask_command(labelmap_path: str, node_or_path: str, out_path: str) -> int:
    """``radgenome mask LABELMAP PATH -o mask.nii.gz``: write a binary mask on the label map's grid."""
    from rich.console import Console

    from radgenome.segment.io import read_segmentation, write_mask

    console = Console(stderr=True)
    try:
        labelmap, affine, labels, _ = read_segmentation(labelmap_path)
        mask = region_mask(labelmap, labels, node_or_path)
        status = region_status(labelmap, labels, node_or_path)
    except (NotAMaskError, UnknownNodeError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    write_mask(mask, affine, out_path)
    n = int(mask.sum())
    console.print(f"{node_or_path}: {status}, {n} voxels -> {out_path}")
    return 0

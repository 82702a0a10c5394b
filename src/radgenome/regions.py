"""Region masks as unions over the region hierarchy, and per-structure statistics (one place for both).

A label map holds the finest structures (non-overlapping). The mask of any hierarchy node is the union of
the node itself and every descendant present in the label map; the mask of a top-level region is the union
over its root nodes. ``others`` is a catch-all for report sentences, not an anatomical mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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


def label_profiles(lm: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label voxel counts along each axis: three arrays of shape (axis length, n_labels).

    One pass over slabs of the outermost axis in memory, with ``np.bincount`` on (row index, label) codes: no
    per-label masks and no index arrays the size of the volume, so the cost hardly depends on the number of
    labels, and C- or F-ordered label maps are both read in memory order.
    """
    outer = int(np.argmax([abs(st) for st in lm.strides]))
    rest = [a for a in range(3) if a != outer]
    view = np.moveaxis(lm, outer, 0)
    n0, nb, nc = view.shape
    idx = np.int32 if max(nb, nc) * n_labels < 2**31 else np.int64
    bb = (np.arange(nb, dtype=idx) * n_labels)[:, None]
    cc = (np.arange(nc, dtype=idx) * n_labels)[None, :]
    c_outer = np.zeros((n0, n_labels), dtype=np.int64)
    c_b = np.zeros((nb, n_labels), dtype=np.int64)
    c_c = np.zeros((nc * n_labels,), dtype=np.int64)
    for i in range(n0):
        slab = view[i]
        if not slab.any():
            continue
        s = slab.astype(idx, order="K")
        per_b = np.bincount((bb + s).ravel(order="K"), minlength=nb * n_labels).reshape(nb, n_labels)
        c_b += per_b
        c_outer[i] = per_b.sum(axis=0)
        c_c += np.bincount((cc + s).ravel(order="K"), minlength=nc * n_labels)
    by_axis = {outer: c_outer, rest[0]: c_b, rest[1]: c_c.reshape(nc, n_labels)}
    return by_axis[0], by_axis[1], by_axis[2]


def structure_stats(
    labelmap: np.ndarray,
    labels: dict[int, str],
    affine: np.ndarray,
    profiles: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, StructureStats]:
    """Voxels, volume (ml), inclusive bbox on this grid and world centroid (mm) of each labelled structure.

    ``profiles``: :func:`label_profiles` of ``labelmap`` when the caller already has them.
    """
    lm = np.asarray(labelmap)
    if lm.dtype.kind not in "iu":
        lm = lm.astype(np.int64)
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    max_id = max([int(lm.max()) if lm.size else 0, *[int(k) for k in labels]])
    if profiles is None and lm.ndim == 3:
        profiles = label_profiles(lm, max_id + 1)
    out: dict[str, StructureStats] = {}
    for label_id, name in sorted(labels.items()):
        i = int(label_id)
        n = int(profiles[0][:, i].sum()) if profiles is not None and i < profiles[0].shape[1] else 0
        if n == 0 or profiles is None:
            out[name] = StructureStats(0, 0.0, [], [])
            continue
        lo, hi, centre = [], [], []
        for prof in profiles:
            col = prof[:, i]
            nz = np.flatnonzero(col)
            lo.append(int(nz[0]))
            hi.append(int(nz[-1]))
            centre.append(float((col * np.arange(len(col))).sum()) / n)
        world = affine[:3, :3] @ np.array(centre) + affine[:3, 3]
        out[name] = StructureStats(
            voxels=n,
            volume_ml=round(n * voxel_ml, 3),
            bbox_ijk=lo + hi,
            centroid_mm=[round(float(w), 2) for w in world],
        )
    return out

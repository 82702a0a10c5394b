"""RadGenome's SAT space: RAS, 1x1x3 mm, cropped to the body (its mask layout: ``segment.radgenome_layout``).

RadGenome-Chest CT's volumes and masks come from SAT's preprocessing (RAS orientation, 1x1x3 mm spacing,
foreground crop). :func:`sat_grid` builds that grid for a :class:`CTVolume` (body = largest connected
component of HU > -500, bbox + a small margin); :func:`resample_ct` (linear) and :func:`resample_labels`
(nearest) move arrays between any two grids by world coordinates, so masks computed in SAT space can come back
onto the input grid and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radgenome.model import CTVolume
from radgenome.segmentation.base import SegmentationError

SAT_SPACING: tuple[float, float, float] = (1.0, 1.0, 3.0)
BODY_THRESHOLD_HU = -500.0
MARGIN_MM = 5.0


@dataclass(frozen=True)
class Grid:
    shape: tuple[int, int, int]
    affine: np.ndarray


def body_bbox(hu: np.ndarray, threshold: float = BODY_THRESHOLD_HU) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive voxel bbox (lo, hi) of the largest connected component of ``hu > threshold``."""
    import cc3d

    fg = np.asarray(hu) > threshold
    if not fg.any():
        return np.zeros(3, dtype=int), np.array(hu.shape, dtype=int) - 1
    labels = cc3d.largest_k(fg, k=1, connectivity=6)
    sl = ndimage.find_objects(labels.astype(np.uint8))[0]
    lo = np.array([s.start for s in sl], dtype=int)
    hi = np.array([s.stop - 1 for s in sl], dtype=int)
    return lo, hi


def grid_for_world_box(lo_mm: np.ndarray, hi_mm: np.ndarray, spacing: tuple[float, float, float]) -> Grid:
    sp = np.asarray(spacing, dtype=float)
    shape = tuple(int(v) for v in np.floor((hi_mm - lo_mm) / sp + 1e-6).astype(int) + 1)
    affine = np.eye(4)
    affine[:3, :3] = np.diag(sp)
    affine[:3, 3] = lo_mm
    return Grid(shape=(shape[0], shape[1], shape[2]), affine=affine)


def sat_grid(
    volume: CTVolume,
    spacing: tuple[float, float, float] = SAT_SPACING,
    margin_mm: float = MARGIN_MM,
    threshold: float = BODY_THRESHOLD_HU,
) -> Grid:
    """RAS grid with ``spacing`` covering the body's bbox (+ ``margin_mm``) of ``volume``."""
    lo, hi = body_bbox(volume.hu, threshold)
    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])], float
    )
    world = corners @ volume.affine[:3, :3].T + volume.affine[:3, 3]
    # clip the margin to the scanned field of view
    full = np.array(
        [
            [x, y, z]
            for x in (0, volume.shape[0] - 1)
            for y in (0, volume.shape[1] - 1)
            for z in (0, volume.shape[2] - 1)
        ],
        float,
    )
    fov = full @ volume.affine[:3, :3].T + volume.affine[:3, 3]
    lo_mm = np.maximum(world.min(axis=0) - margin_mm, fov.min(axis=0))
    hi_mm = np.minimum(world.max(axis=0) + margin_mm, fov.max(axis=0))
    return grid_for_world_box(lo_mm, hi_mm, spacing)


def _mapping(src_affine: np.ndarray, dst_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.linalg.inv(src_affine) @ dst_affine
    return m[:3, :3], m[:3, 3]


def resample_ct(
    hu: np.ndarray,
    src_affine: np.ndarray,
    dst_shape: tuple[int, ...],
    dst_affine: np.ndarray,
    cval: float = -1024.0,
) -> np.ndarray:
    """Linear resampling of a CT array onto another grid (world coordinates); outside = ``cval``."""
    matrix, offset = _mapping(src_affine, dst_affine)
    return ndimage.affine_transform(
        np.asarray(hu, dtype=np.float32),
        matrix,
        offset,
        output_shape=tuple(dst_shape),
        order=1,
        mode="constant",
        cval=cval,
        prefilter=False,
    )


def resample_labels(
    labelmap: np.ndarray, src_affine: np.ndarray, dst_shape: tuple[int, ...], dst_affine: np.ndarray
) -> np.ndarray:
    """Nearest-neighbour resampling of a label map onto another grid (world coordinates); outside = 0."""
    if tuple(dst_shape) == tuple(labelmap.shape) and np.allclose(src_affine, dst_affine, atol=1e-4):
        return labelmap
    matrix, offset = _mapping(src_affine, dst_affine)
    # nearest with an exact half-voxel rule: affine_transform(order=0) rounds the source coordinate
    out = ndimage.affine_transform(
        labelmap,
        matrix,
        offset,
        output_shape=tuple(dst_shape),
        order=0,
        mode="constant",
        cval=0,
        prefilter=False,
    )
    return out.astype(labelmap.dtype, copy=False)


def to_sat_space(volume: CTVolume, grid: Grid | None = None) -> CTVolume:
    """The volume resampled (linear) onto its SAT grid; provenance and the input grid are kept."""
    grid = grid or sat_grid(volume)
    hu = resample_ct(volume.hu, volume.affine, grid.shape, grid.affine)
    meta = dict(volume.meta)
    meta["space"] = "sat"
    return CTVolume(
        case_id=volume.case_id,
        hu=hu,
        affine=grid.affine,
        source=volume.source,
        original_affine=volume.original_affine,
        original_shape=volume.original_shape,
        meta=meta,
    )


def sat_input_grid(volume: CTVolume) -> tuple[Grid, np.ndarray]:
    """(grid, HU array) of the image radgenome gives SAT: RAS 1x1x3 mm, cropped to the voxels > 0 HU."""
    grid = sat_grid(volume)
    hu = resample_ct(volume.hu, volume.affine, grid.shape, grid.affine)
    fg = np.nonzero(hu > 0)
    if fg[0].size == 0:
        raise SegmentationError(
            f"{volume.case_id}: no voxel above 0 HU; SAT's foreground crop would be empty"
        )
    lo = np.array([int(a.min()) for a in fg])
    hi = np.array([int(a.max()) + 1 for a in fg])
    cropped = hu[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    affine = grid.affine.copy()
    affine[:3, 3] = grid.affine[:3, :3] @ lo + grid.affine[:3, 3]
    shape = (int(cropped.shape[0]), int(cropped.shape[1]), int(cropped.shape[2]))
    return Grid(shape=shape, affine=affine), np.rint(cropped).astype(np.int16)

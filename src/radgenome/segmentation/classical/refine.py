"""Full-resolution refinement of structure surfaces after nearest-neighbour upsampling.

The coarse steps run on ~3 mm blocks; upsampled as is, a surface is a staircase of whole blocks. Only the
blocks on the surface of a class (the lungs: dark voxels; the bones: dense voxels) are revisited at the input
resolution: inside a class block, voxels that do not look like the class go to the neighbouring structure;
in a neighbouring block, voxels that look like the class go to the adjacent structure of the class. Labels
listed as fixed (the airway) and the outside of the body are never changed. With blocks of one voxel (a grid at
the working resolution already) the same pass snaps a surface that came back from the rotated working grid by
nearest neighbour (:class:`~radgenome.segmentation.classical.frame.RotatedGrid`) onto the CT.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def refine_lung_boundary(
    full: np.ndarray,
    hu: np.ndarray,
    lab_work: np.ndarray,
    factors: tuple[int, int, int],
    lung_ids: list[int],
    keep_ids: list[int],
    lung_hu: float,
) -> int:
    """Lung surface: lung voxels are darker than ``lung_hu``. Returns the number of voxels changed."""
    return refine_boundary(full, hu, lab_work, factors, lung_ids, keep_ids, lung_hu, below=True)


def refine_bone_boundary(
    full: np.ndarray,
    hu: np.ndarray,
    lab_work: np.ndarray,
    factors: tuple[int, int, int],
    bone_ids: list[int],
    keep_ids: list[int],
    bone_hu: float,
) -> int:
    """Bone surface: bone voxels are denser than ``bone_hu``. Returns the number of voxels changed."""
    return refine_boundary(full, hu, lab_work, factors, bone_ids, keep_ids, bone_hu, below=False)


def refine_boundary(
    full: np.ndarray,
    hu: np.ndarray,
    lab_work: np.ndarray,
    factors: tuple[int, int, int],
    ids: list[int],
    keep_ids: list[int],
    threshold_hu: float,
    below: bool = True,
) -> int:
    """Refine ``full`` (the upsampled label map) in place at the surface of the class ``ids`` — lungs, bones or
    airway (voxels below ``threshold_hu`` belong to it, or above it when ``below`` is False)."""
    if not ids:
        return 0
    inside = np.isin(lab_work, ids)
    if not inside.any():
        return 0
    # work on the class's bounding box (+1 block) of the working grid
    nz = [np.nonzero(inside.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    lo = [max(0, int(n[0]) - 1) for n in nz]
    hi = [min(lab_work.shape[ax], int(nz[ax][-1]) + 2) for ax in range(3)]
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    lab_work = lab_work[box]
    inside = inside[box]
    fixed = np.isin(lab_work, keep_ids) | (lab_work == 0)
    st = ndimage.generate_binary_structure(3, 1)
    inner = inside & ~ndimage.binary_erosion(inside, st, border_value=1)
    outer = ndimage.binary_dilation(inside, st) & ~inside & ~fixed
    # the neighbouring label each boundary block can hand its voxels to
    other = ndimage.maximum_filter(np.where(inside | fixed, 0, lab_work), size=3)
    own_side = ndimage.maximum_filter(np.where(inside, lab_work, 0), size=3)
    changed = 0
    for blocks, into_class in ((inner, False), (outer, True)):
        idx = np.argwhere(blocks) + np.asarray(lo)
        if not len(idx):
            continue
        own = lab_work[blocks]
        repl = (own_side if into_class else other)[blocks]
        ok = repl > 0
        idx, own, repl = idx[ok], own[ok], repl[ok]
        if not len(idx):
            continue
        offs = np.stack(np.meshgrid(*[np.arange(f) for f in factors], indexing="ij"), axis=-1).reshape(-1, 3)
        pos = idx[:, None, :] * np.asarray(factors) + offs[None, :, :]  # (N, f, 3)
        pos = np.minimum(pos, np.asarray(full.shape) - 1)
        lin = np.ravel_multi_index((pos[..., 0], pos[..., 1], pos[..., 2]), full.shape)
        vals = hu.reshape(-1)[lin] if hu.flags.c_contiguous else hu[pos[..., 0], pos[..., 1], pos[..., 2]]
        in_class = vals < threshold_hu if below else vals > threshold_hu
        when_in, otherwise = (repl, own) if into_class else (own, repl)
        new = np.where(in_class, when_in[:, None], otherwise[:, None]).astype(full.dtype)
        flat = full.reshape(-1)  # the upsampled map is C-contiguous: a view
        changed += int((flat[lin] != new).sum())
        flat[lin] = new
    return changed

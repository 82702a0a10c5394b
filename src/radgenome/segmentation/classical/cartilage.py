"""Costal cartilage where it is visible: the tissue that continues the ribs' front ends to the sternum.

Non-calcified costal cartilage is denser than muscle and fat (about 90–180 HU) but not bone. On the working grid,
candidates are voxels of ``CART_HU`` in the anterior chest wall (within ``MAX_DEPTH_MM`` of the anterior body
surface, at most ``BEHIND_STERNUM_MM`` behind the sternum, from above the sternum down to ``BELOW_STERNUM_MM``
below it: the costal margin), away from the lungs, the organs already labelled and every bone by more than one
voxel (the partial-volume shell of a rib is not cartilage). A connected candidate region counts when it reaches
a rib or the sternum (within two voxels) and holds at least ``MIN_ML``. Calcified cartilage (above the bone
threshold) stays with the bone it touches. Contrast-enhanced vessels beside the sternum (internal thoracic
arteries) can pass the test; the method says it is an approximation.
"""

from __future__ import annotations

import cc3d
import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.grid import WorkGrid, bbox

CART_HU = (90.0, 180.0)
MAX_DEPTH_MM = 50.0
BEHIND_STERNUM_MM = 80.0
BELOW_STERNUM_MM = 90.0
MIN_ML = 0.4
METHOD = (
    "tissue 90-180 HU in the anterior chest wall joining a rib's front end or the sternum, away from bone "
    "surfaces (approximation; calcified cartilage above 180 HU stays with the ribs)"
)
CONFIDENCE = 0.3

_OTHER = ("heart", "liver", "aorta", "esophagus", "trachea", "bronchie", "left thyroid", "right thyroid")


def costal_cartilage(g: WorkGrid, body: np.ndarray, masks: dict[str, np.ndarray], contrast: bool) -> np.ndarray | None:
    """The costal cartilage mask on the working grid (None when nothing qualifies)."""
    sternum = masks.get("sternum")
    rib_names = [n for n in masks if " rib" in n]
    if sternum is None or not sternum.any() or not rib_names:
        return None
    # the anterior chest wall around the sternum: every step works on that box
    zv = g.axis_world(2).reshape(-1)
    yv = g.axis_world(1).reshape(-1)
    zs = zv[sternum.any(axis=(0, 1))]
    ys = float(np.median(yv[sternum.any(axis=(0, 2))]))
    kz = np.flatnonzero((zv >= float(zs.min()) - BELOW_STERNUM_MM) & (zv <= float(zs.max()) + 10.0))
    jy = np.flatnonzero(yv > ys - BEHIND_STERNUM_MM)
    if not len(kz) or not len(jy):
        return None
    box = (slice(0, body.shape[0]), slice(int(jy.min()), int(jy.max()) + 1), slice(int(kz.min()), int(kz.max()) + 1))
    sub_body = body[box]
    bone = np.zeros_like(sub_body)
    for n, m in masks.items():
        if " rib" in n or n == "sternum" or "vertebrae" in n or n.endswith(("clavicle", "scapula")):
            bone |= m[box]
    y = yv[box[1]][None, :, None]
    front = np.where(sub_body, y, np.float32(-1e9)).max(axis=1, keepdims=True)
    hu = g.hu[box]
    cand = (hu >= CART_HU[0]) & (hu < CART_HU[1]) & sub_body & (front - y < MAX_DEPTH_MM)
    inner = bbox(cand, margin=3)
    if inner is None:
        return None
    cand = cand[inner]
    bone = bone[inner]
    near_bone = ndimage.maximum_filter(bone, size=3)
    away = np.zeros_like(cand)
    for n, m in masks.items():
        if "lobe" in n or n in _OTHER:
            away |= m[box][inner]
    cand &= ~near_bone & ~ndimage.maximum_filter(away, size=3)
    if not cand.any():
        return None
    lab, n = cc3d.connected_components(cand, connectivity=26, return_N=True)
    if n == 0:
        return None
    touch = ndimage.maximum_filter(bone, size=5) & (lab > 0)
    hit = np.zeros(n + 1, dtype=bool)
    hit[np.unique(lab[touch])] = True
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    hit &= counts * g.voxel_ml() >= MIN_ML
    hit[0] = False
    if not hit.any():
        return None
    out = np.zeros(body.shape, dtype=bool)
    sub = np.zeros(sub_body.shape, dtype=bool)
    sub[inner] = hit[lab]
    out[box] = sub
    return out

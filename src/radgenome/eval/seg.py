"""``radgenome eval seg PRED REF``: Dice per structure between a §1.2 label map and a reference.

Structures are matched by name when both sides have names (the prediction's sidecar, the reference's sidecar
or a ``--map 1=right lung,2=left lung`` for reference label maps with their own ids; several ids may map to
one name, and a name may be a parent node or top-level region — ``lung`` is the union of everything under
it), otherwise by label id. A reference on another grid is compared after resampling the prediction onto
the reference grid (nearest neighbour, world coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radgenome.regions import region_mask
from radgenome.segmentation.io import read_segmentation
from radgenome.segmentation.satspace import resample_labels


@dataclass(frozen=True)
class DiceRow:
    name: str
    dice: float
    pred_voxels: int
    ref_voxels: int


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / total


def parse_map(spec: list[str] | str | None) -> dict[str, list[int]]:
    """``["1=right lung,2=left", "1+2=lung"]`` -> ``{"right lung": [1], "left": [2], "lung": [1, 2]}``."""
    if not spec:
        return {}
    items = [spec] if isinstance(spec, str) else list(spec)
    out: dict[str, list[int]] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"bad reference map entry {part!r}: expected ID=NAME or ID+ID=NAME")
            ids_text, name = part.split("=", 1)
            ids = [int(x) for x in ids_text.replace("|", "+").split("+") if x.strip()]
            out.setdefault(name.strip(), []).extend(ids)
    return out


def evaluate_seg(
    pred: str | Path, ref: str | Path, ref_map: dict[str, list[int]] | None = None
) -> list[DiceRow]:
    """Dice rows for every reference structure (by name when names are known, else by id)."""
    p_lm, p_aff, p_labels, _ = read_segmentation(pred)
    r_lm, r_aff, r_labels, _ = read_segmentation(ref)
    if p_lm.shape != r_lm.shape or not np.allclose(p_aff, r_aff, atol=1e-3):
        p_lm = resample_labels(p_lm, p_aff, r_lm.shape, r_aff)
    rows: list[DiceRow] = []
    if ref_map:
        groups = ref_map
    elif r_labels:
        groups = {}
        for i, n in r_labels.items():
            groups.setdefault(n, []).append(i)
    else:
        groups = {}
    if groups and p_labels:
        for name, ids in groups.items():
            r_mask = np.isin(r_lm, ids)
            p_mask = region_mask(p_lm, p_labels, name)
            rows.append(DiceRow(name, dice(p_mask, r_mask), int(p_mask.sum()), int(r_mask.sum())))
        return rows
    ids = sorted(set(int(v) for v in np.unique(r_lm)) | set(int(v) for v in np.unique(p_lm)) - {0})
    for i in ids:
        if i == 0:
            continue
        p_mask, r_mask = p_lm == i, r_lm == i
        name = p_labels.get(i) or r_labels.get(i) or f"label {i}"
        rows.append(DiceRow(name, dice(p_mask, r_mask), int(p_mask.sum()), int(r_mask.sum())))
    return rows

"""Region masks as unions over the hierarchy DAG; per-structure stats."""

from __future__ import annotations

import numpy as np
import pytest

from radgenome.anatomy import UnknownNodeError
from radgenome.regions import NotAMaskError, region_mask, region_status, resolve, structure_stats

LABELS = {
    1: "left lung upper lobe",
    2: "left lung lower lobe",
    3: "right lung upper lobe",
    4: "right lung middle lobe",
    5: "right lung lower lobe",
    6: "trachea",
    7: "aorta",
    8: "left rib 4",
    9: "heart",
    10: "pleura",
}


@pytest.fixture
def lm() -> np.ndarray:
    a = np.zeros((10, 4, 4), dtype=np.uint8)
    for i in LABELS:
        a[i - 1] = i
    return a


def test_node_union(lm: np.ndarray) -> None:
    left = region_mask(lm, LABELS, "left lung")
    assert set(np.unique(lm[left])) == {1, 2}
    upper = region_mask(lm, LABELS, "lung upper lobe")  # second parent of the upper lobes
    assert set(np.unique(lm[upper])) == {1, 3}


def test_node_with_two_parents_reaches_both(lm: np.ndarray) -> None:
    via_side = region_mask(lm, LABELS, "lung/lung/left lung/left lung lower lobe")
    via_lobe = region_mask(lm, LABELS, "lung/lung/lung lower lobe/left lung lower lobe")
    np.testing.assert_array_equal(via_side, via_lobe)
    assert set(np.unique(lm[via_side])) == {2}
    # aorta sits under mediastinum and abdomen: both top-level masks contain it
    assert region_mask(lm, LABELS, "mediastinum")[6].all()
    assert region_mask(lm, LABELS, "abdomen")[6].all()


def test_top_level_regions(lm: np.ndarray) -> None:
    assert set(np.unique(lm[region_mask(lm, LABELS, "lung")])) == {1, 2, 3, 4, 5}
    assert set(np.unique(lm[region_mask(lm, LABELS, "trachea and bronchie")])) == {6}
    assert set(np.unique(lm[region_mask(lm, LABELS, "bone")])) == {8}
    assert set(np.unique(lm[region_mask(lm, LABELS, "pleura")])) == {10}
    assert region_status(lm, LABELS, "thyroid") == "no structure"
    assert region_status(lm, LABELS, "heart") == "ok"
    empty = lm.copy()
    empty[empty == 9] = 0
    assert region_status(empty, LABELS, "heart") == "empty"


def test_others_and_unknown() -> None:
    with pytest.raises(NotAMaskError):
        resolve("others")
    with pytest.raises(UnknownNodeError):
        resolve("lung/heart")
    with pytest.raises(UnknownNodeError):
        resolve("spleen-ish thing")
    node, members = resolve("others/thoracic cavity")
    assert node == "thoracic cavity" and "thoracic cavity" in members


def test_structure_stats_centroid_in_world_mm(lm: np.ndarray) -> None:
    aff = np.diag([2.0, 1.0, 1.0, 1.0])
    aff[:3, 3] = [-10, 0, 0]
    s = structure_stats(lm, LABELS, aff)
    assert s["trachea"].voxels == 16
    assert s["trachea"].bbox_ijk == [5, 0, 0, 5, 3, 3]
    assert s["trachea"].centroid_mm == [0.0, 1.5, 1.5]
    assert s["trachea"].volume_ml == pytest.approx(0.032)

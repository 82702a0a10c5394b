"""Field of view: the classical backend finds the thorax before the lungs.

Gas in the abdomen (bowel, stomach) is never lung; an abdominal CT gets its lung bases (when in view) and says
which regions lie outside the scan; linking turns those into ``outside_fov``; a chest CT is unchanged by the
abdomen below it; chest CTs stopping at any level keep their lungs on the right side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radgenome.model import CTVolume, Segmentation
from radgenome.pipeline.link import LabelInfo, Linker
from radgenome.regions import region_mask
from radgenome.segmentation.base import SegmentationError, outside_fov_nodes
from radgenome.segmentation.classical import ClassicalSegmenter
from radgenome.segmentation.io import write_segmentation
from radgenome.synth.phantom import LOBES, Phantom, make_fov_phantom, make_phantom

ABDOMINAL = (
    "abdominal tissue",
    "liver",
    "spleen",
    "stomach",
    "colon",
    "small bowel",
    "rectum",
    "left kidney",
    "right kidney",
)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


def lung(seg: Segmentation, which: str = "lung") -> np.ndarray:
    return region_mask(seg.labelmap, seg.labels, which)


_CACHE: dict[str, tuple[Phantom, Segmentation]] = {}


def segmented(fov: str) -> tuple[Phantom, Segmentation]:
    if fov not in _CACHE:
        p = make_fov_phantom(fov, seed=3)
        _CACHE[fov] = p, ClassicalSegmenter().segment(CTVolume(fov, p.hu, p.affine))
    return _CACHE[fov]


def test_abdominal_ct_lungs_are_the_bases_not_the_bowel() -> None:
    """Pelvis to lung bases: ~400 ml of bowel and stomach gas, ~500 ml of lung bases."""
    p, seg = segmented("abdomen_with_lung_bases")
    pred, truth = lung(seg), p.mask(*LOBES)
    gas = p.mask("colon", "small bowel", "rectum", "stomach") & (p.hu < -900)
    assert gas.sum() * np.prod(p.spacing) / 1000 > 300  # the distractor is there
    assert not (pred & gas).any()
    assert (pred & p.mask(*ABDOMINAL)).sum() < 0.02 * pred.sum()  # a voxel-thin rim at the domes at most
    assert dice(pred, truth) > 0.97
    assert dice(lung(seg, "left lung"), p.mask(*LOBES[3:])) > 0.95
    assert dice(lung(seg, "right lung"), p.mask(*LOBES[:3])) > 0.95
    # the rejected gas is named, the cut lungs say how their lobes were placed
    assert any(w.startswith("lungs: air region of") and "is gas" in w for w in seg.warnings)
    assert "right lung: apex above the field of view (lobe planes assume a 240 mm lung)" in seg.warnings
    assert seg.settings["field_of_view"] == {"kind": "thorax", "outside": ["thyroid", "trachea"]}
    assert set(seg.settings["lungs_accepted_by"]) == {"rib cage + cut by the top of the scan"}
    assert "trachea" not in seg.labels.values()


def test_abdominal_ct_without_lungs() -> None:
    p, seg = segmented("abdomen")
    assert not p.mask(*LOBES).any()
    assert not any("lung" in n for n in seg.labels.values())
    assert seg.settings["field_of_view"]["kind"] == "below the thorax"
    outside = outside_fov_nodes(seg.warnings)
    assert {"lung", "pleura", "trachea and bronchie", "heart", "mediastinum", "thyroid", "breast"} == set(outside)
    assert not any(w.startswith(("heart: expected", "trachea: expected")) for w in seg.warnings)
    # what is there is still labelled: the abdomen, the liver's lower part, the spine, the lowest ribs
    for name, floor in (("abdominal tissue", 0.85), ("liver", 0.85)):
        assert dice(region_mask(seg.labelmap, seg.labels, name), p.mask(name)) > floor, name
    for side in ("left", "right"):
        assert dice(region_mask(seg.labelmap, seg.labels, f"{side} rib"), p.mask_prefix(f"{side} rib ")) > 0.8


def test_chest_field_of_view_is_unchanged_by_the_abdomen_below() -> None:
    """The chest CT segments as before; the same chest with the pelvis below gets the same lungs."""
    p, seg = segmented("chest")
    assert not outside_fov_nodes(seg.warnings)
    assert seg.settings["field_of_view"] == {"kind": "thorax", "outside": []}
    assert set(seg.settings["lungs_accepted_by"]) == {"airway"}
    assert {n for n in seg.labels.values() if "lobe" in n} == set(LOBES)
    assert dice(lung(seg), p.mask(*LOBES)) > 0.99
    long, seg_long = segmented("neck_to_pelvis")
    z_chest = p.affine[2, 3] + p.affine[2, 2] * np.arange(p.hu.shape[2])
    z_long = long.affine[2, 3] + long.affine[2, 2] * np.arange(long.hu.shape[2])
    k0 = int(np.argmin(np.abs(z_long - z_chest[0])))
    assert np.allclose(z_long[k0 : k0 + len(z_chest)], z_chest)
    same = lung(seg_long)[:, :, k0 : k0 + len(z_chest)]
    assert dice(same, lung(seg)) > 0.99
    assert not (lung(seg_long) & long.mask(*ABDOMINAL)).sum() > 0.01 * lung(seg_long).sum()


@pytest.mark.parametrize(
    ("fov", "outside"),
    [
        ("neck_to_mid_chest", ["abdomen"]),
        ("neck_to_lung_bases", []),
        ("carina_to_upper_abdomen", ["thyroid", "trachea"]),
        ("mid_chest_to_upper_abdomen", ["thyroid", "trachea"]),
    ],
)
def test_chest_cts_stopping_at_various_levels(fov: str, outside: list[str]) -> None:
    p, seg = segmented(fov)
    pred = lung(seg)
    assert dice(pred, p.mask(*LOBES)) > 0.97
    assert dice(lung(seg, "left lung"), p.mask(*LOBES[3:])) > 0.95
    assert dice(lung(seg, "right lung"), p.mask(*LOBES[:3])) > 0.95
    assert (pred & p.mask(*ABDOMINAL)).sum() < 0.01 * pred.sum()
    assert seg.settings["field_of_view"]["outside"] == outside
    if fov == "neck_to_mid_chest":  # no diaphragm in view: no abdomen, and the heart is not taken for it
        assert "abdominal tissue" not in seg.labels.values()
        assert dice(region_mask(seg.labelmap, seg.labels, "heart"), p.mask("heart")) > 0.85


def test_neck_only_scan_is_above_the_thorax() -> None:
    p = make_fov_phantom((145.0, 260.0), seed=2)
    seg = ClassicalSegmenter().segment(CTVolume("neck", p.hu, p.affine))
    assert seg.settings["field_of_view"]["kind"] == "above the thorax"
    assert {"lung", "heart", "abdomen"} <= set(outside_fov_nodes(seg.warnings))
    assert dice(region_mask(seg.labelmap, seg.labels, "trachea"), p.mask("trachea")) > 0.9


def test_airless_chest_with_stomach_gas_still_fails() -> None:
    """No lung but a whole rib cage: an airless chest, not a scan below the thorax."""
    p = make_phantom(seed=5)
    hu = p.hu.copy()
    hu[p.mask(*LOBES, "trachea", "bronchie")] = 40
    assert ((hu < -900) & p.mask("stomach")).any()
    with pytest.raises(SegmentationError, match=r"no lungs found \(a rib cage spans \d+ mm without any lung"):
        ClassicalSegmenter().segment(CTVolume("airless", hu, p.affine))


@pytest.mark.parametrize("fov", ["abdomen", "abdomen_with_lung_bases", "chest"])
def test_linking_marks_what_is_outside(tmp_path: Path, fov: str) -> None:
    """Through the written sidecar: lungs outside the scan link as outside_fov, never as a wrong mask."""
    p, seg = segmented(fov)
    vol = CTVolume(fov, p.hu, p.affine)
    sidecar = write_segmentation(seg, vol, tmp_path).sidecar_data
    linker = Linker(LabelInfo.from_sidecar(sidecar))
    status = {n: linker.link(n).status for n in ("lung", "left lung upper lobe", "right lung lower lobe",
                                                  "trachea", "bronchie", "heart", "thyroid", "vertebrae")}
    if fov == "abdomen":
        assert status["lung"] == status["left lung upper lobe"] == status["right lung lower lobe"] == "outside_fov"
        assert status["trachea"] == status["bronchie"] == status["heart"] == status["thyroid"] == "outside_fov"
        assert status["vertebrae"] == "ok"
    elif fov == "abdomen_with_lung_bases":
        assert status["lung"] == status["right lung lower lobe"] == "ok"
        assert status["trachea"] == status["thyroid"] == "outside_fov"
    else:
        assert set(status.values()) == {"ok"}

"""Vertebrae and ribs by level on phantoms with known numbering: every anchor case, fields of view that cut the
column anywhere, the sidecar and the linking of level-specific sentences."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radgenome.anatomy import is_mask_name
from radgenome.model import CTVolume, Segmentation
from radgenome.pipeline.link import LabelInfo, Linker
from radgenome.regions import region_mask
from radgenome.segmentation.base import not_subdivided_nodes, not_subdivided_warning, outside_fov_nodes
from radgenome.segmentation.classical import ClassicalSegmenter
from radgenome.segmentation.classical.levels import CARTILAGE, LEVEL_NAMES, RIB_NAMES
from radgenome.segmentation.io import write_segmentation
from radgenome.synth.phantom import Phantom, make_fov_phantom

NUMBERED = frozenset(LEVEL_NAMES) | frozenset(RIB_NAMES)
PURITY = 0.6
"""A numbered structure must be mostly (this share of its bone voxels) the bone of that number."""


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


@cache
def segmented(fov: str | tuple[float, float], seed: int = 0, variation: float = 0.0) -> tuple[Phantom, Segmentation]:
    p = make_fov_phantom(fov, seed=seed, spine_variation=variation)
    return p, ClassicalSegmenter().segment(CTVolume(str(fov), p.hu, p.affine))


def mask(seg: Segmentation, name: str) -> np.ndarray:
    ids = [i for i, n in seg.labels.items() if n == name]
    return np.isin(seg.labelmap, ids)


def misnamed(p: Phantom, seg: Segmentation, min_voxels: int = 20, purity: float = PURITY) -> dict[str, str]:
    """Numbered structures whose voxels are mostly another numbered bone of the truth, or less than ``PURITY`` the
    bone of their name: name -> truth name."""
    truth_ids = {i: n for i, n in p.labels.items() if n in NUMBERED}
    lut = np.zeros(max(p.labels) + 1, dtype=np.int64)
    for i in truth_ids:
        lut[i] = i
    out: dict[str, str] = {}
    for i, name in seg.labels.items():
        if name not in NUMBERED:
            continue
        kind = [j for j, n in truth_ids.items() if (" rib " in n) == (" rib " in name)]  # vertebrae vs ribs
        t = lut[p.labelmap[seg.labelmap == i]]
        t = t[np.isin(t, kind)]
        t = t[t > 0]
        if len(t) < min_voxels:
            continue
        counts = np.bincount(t)
        top = truth_ids[int(counts.argmax())]
        same = [i for i, n in truth_ids.items() if n == name]
        pure = float(counts[same[0]]) / len(t) if same and same[0] < len(counts) else 0.0
        if top != name or pure < purity:
            out[name] = top if top != name else f"{name} (only {pure:.0%} of it)"
    return out


def anchors(seg: Segmentation) -> set[str]:
    return {a["level"] for a in seg.settings["levels"]["anchors_seen"]}


# --------------------------------------------------------------------------------------------------------
# Anchor cases
# --------------------------------------------------------------------------------------------------------
def test_chest_ct_is_numbered_from_both_rib_anchors() -> None:
    p, seg = segmented("chest")
    lv = seg.settings["levels"]
    assert lv["numbered"] and anchors(seg) == {"T1", "T12"}
    assert lv["anchor"] == "first rib pair -> T1" and lv["confidence"] >= 0.85  # the two anchors agree
    assert not misnamed(p, seg)
    names = set(seg.labels.values())
    for k in range(1, 13):
        assert f"thoracic vertebrae {k} (t{k})" in names
        for side in ("left", "right"):
            assert dice(mask(seg, f"{side} rib {k}"), p.mask(f"{side} rib {k}")) > 0.7, (side, k)
    for k in range(2, 13):  # T1 loses its upper edge to the partial C7 above it (the field of view cuts C7)
        name = f"thoracic vertebrae {k} (t{k})"
        assert dice(mask(seg, name), p.mask(name)) > 0.65, name
    assert all(is_mask_name(n) or seg.info[n].extra for n in names)


def test_scan_ending_above_t12_is_numbered_from_t1() -> None:
    p, seg = segmented("neck_to_mid_chest", seed=2)
    assert anchors(seg) == {"T1"} and seg.settings["levels"]["anchor"] == "first rib pair -> T1"
    assert not misnamed(p, seg)
    assert "thoracic vertebrae 6 (t6)" in seg.labels.values() and "right rib 5" in seg.labels.values()
    outside = outside_fov_nodes(seg.warnings)
    assert "lumbar vertebrae" in outside and "rib 12" in outside  # below the scan: outside, not "empty"


def test_scan_starting_below_t1_is_numbered_from_t12() -> None:
    p, seg = segmented("mid_chest_to_upper_abdomen", seed=1)
    assert anchors(seg) == {"T12"}
    assert not misnamed(p, seg)
    assert {"thoracic vertebrae 12 (t12)", "lumbar vertebrae 1 (l1)", "left rib 12", "right rib 8"} <= set(
        seg.labels.values()
    )


def test_abdominal_ct_is_numbered_from_the_sacrum() -> None:
    p, seg = segmented("abdomen", seed=1)
    lv = seg.settings["levels"]
    assert anchors(seg) == {"L5"} and lv["anchor"] == "sacrum -> L5/S1"
    assert not misnamed(p, seg)
    for k in range(1, 6):
        name = f"lumbar vertebrae {k} (l{k})"
        assert dice(mask(seg, name), p.mask(name)) > 0.75, name
    assert "sacral vertebrae 1 (s1)" in seg.labels.values()
    assert "thoracic vertebrae 8 (t8)" in outside_fov_nodes(seg.warnings)  # above the scan's top


def test_all_anchors_agree_from_neck_to_pelvis() -> None:
    p, seg = segmented("neck_to_pelvis", seed=1, variation=0.1)
    lv = seg.settings["levels"]
    assert anchors(seg) == {"T1", "T12", "L5"} and lv["confidence"] >= 0.9
    assert not any(w.startswith("levels: level anchors disagree") for w in seg.warnings)
    assert not misnamed(p, seg)
    assert {"thoracic vertebrae 1 (t1)", "thoracic vertebrae 7 (t7)", "lumbar vertebrae 5 (l5)",
            "sacral vertebrae 1 (s1)"} <= set(seg.labels.values())
    assert not {n for n in seg.labels.values() if n.startswith("cervical vertebrae") and "(c7)" not in n}


def test_no_anchor_in_view_leaves_the_column_unnumbered() -> None:
    """From T4 to T9: no first or last rib pair, no sacrum. Nothing is guessed."""
    p, seg = segmented((-100.0, 80.0), seed=3)
    lv = seg.settings["levels"]
    assert not lv["numbered"] and lv["anchor"] is None and not lv["anchors_seen"]
    names = set(seg.labels.values())
    assert not names & NUMBERED
    assert {"vertebrae", "left rib", "right rib"} <= names
    assert set(not_subdivided_nodes(seg.warnings)) == {"vertebrae", "rib"}
    assert any(w.startswith("levels: not numbered: no level anchor in view") for w in seg.warnings)
    truth = p.mask(*[n for n in LEVEL_NAMES if n in p.labels.values()])
    assert dice(region_mask(seg.labelmap, seg.labels, "vertebrae"), truth) > 0.75


def test_ribs_cut_by_the_field_of_view_keep_their_number() -> None:
    """An abdominal CT up to the lung bases: ribs 8 and 9 leave the spine above the scan; their lower parts in
    view are counted from the ribs below them."""
    p, seg = segmented("abdomen_with_lung_bases")
    assert not misnamed(p, seg)
    for side in ("left", "right"):
        for k in (8, 9):
            assert dice(mask(seg, f"{side} rib {k}"), p.mask(f"{side} rib {k}")) > 0.6, (side, k)
    assert "counted from the ribs beside it" in seg.info["left rib 9"].method


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    top=st.floats(min_value=-40.0, max_value=230.0),
    height=st.floats(min_value=180.0, max_value=420.0),
    seed=st.integers(min_value=0, max_value=50),
)
def test_shifting_the_field_of_view_never_renumbers_a_bone(top: float, height: float, seed: int) -> None:
    """Whatever the field of view, a numbered vertebra or rib is mostly the bone of that number (or it stays
    unnumbered); so two fields of view of one column never give one bone two numbers. (How clean each numbered
    mask is near the scan's edges is measured by ``benchmarks/bench_segment.py --levels``, not asserted here.)"""
    lo = max(top - height, -470.0)
    p, seg = segmented((round(lo, 1), round(top, 1)), seed=seed % 4, variation=0.1)
    assert not misnamed(p, seg, purity=0.0), seg.settings["levels"]


# --------------------------------------------------------------------------------------------------------
# Costal cartilage, sidecar, linking
# --------------------------------------------------------------------------------------------------------
def test_costal_cartilage_where_visible() -> None:
    p, seg = segmented("chest")
    assert CARTILAGE in seg.labels.values()
    assert dice(mask(seg, CARTILAGE), p.mask(CARTILAGE)) > 0.55
    _, abdominal = segmented("abdomen", seed=1)
    assert CARTILAGE not in abdominal.labels.values()  # no sternum, no chest wall: none claimed


def test_sidecar_has_each_level_with_its_anchor(tmp_path: Path) -> None:
    p, seg = segmented("chest")
    side = write_segmentation(seg, CTVolume("chest", p.hu, p.affine), tmp_path).sidecar_data
    t7 = side["stats"]["thoracic vertebrae 7 (t7)"]
    assert t7["voxels"] > 0 and t7["volume_ml"] > 5 and len(t7["centroid_mm"]) == 3
    assert "first rib pair -> T1" in t7["method"] and 0.5 < t7["confidence"] <= 0.95
    r7 = side["stats"]["left rib 7"]
    assert r7["centroid_mm"][0] < 0 < side["stats"]["right rib 7"]["centroid_mm"][0]  # sides from the affine
    z = [side["stats"][f"thoracic vertebrae {k} (t{k})"]["centroid_mm"][2] for k in range(1, 13)]
    assert z == sorted(z, reverse=True)  # T1 on top
    lv = side["settings"]["levels"]
    assert lv["anchor"] == "first rib pair -> T1" and len(lv["discs_z_mm"]) >= 12


def test_linking_uses_the_numbered_masks(tmp_path: Path) -> None:
    p, seg = segmented("chest")
    side = write_segmentation(seg, CTVolume("chest", p.hu, p.affine), tmp_path).sidecar_data
    link = Linker(LabelInfo.from_sidecar(side))
    for node in ("left rib 7", "rib 7", "right rib 12", "thoracic vertebrae 12 (t12)", "thoracic vertebrae",
                 "vertebrae", "rib", "costal cartilage"):
        assert link.link(node).status == "ok", node
    assert link.link("left rib 7").structures == ["left rib 7"]
    for node in ("lumbar vertebrae 4 (l4)", "lumbar vertebrae 5 (l5)", "sacral vertebrae 1 (s1)"):
        assert link.link(node).status == "outside_fov", node
    for node in ("lumbar vertebrae 6 (l6)", "cervical vertebrae 2 (c2)"):
        assert link.link(node).status == "no_structure", node  # never numbered by this backend


def test_linking_without_an_anchor_says_no_structure(tmp_path: Path) -> None:
    p, seg = segmented((-100.0, 80.0), seed=3)
    side = write_segmentation(seg, CTVolume("mid", p.hu, p.affine), tmp_path).sidecar_data
    link = Linker(LabelInfo.from_sidecar(side))
    for node in ("left rib 7", "thoracic vertebrae 7 (t7)", "thoracic vertebrae", "rib 7"):
        assert link.link(node).status == "no_structure", node  # not made for this scan: not an empty mask
    for node in ("vertebrae", "left rib", "rib"):
        assert link.link(node).status == "ok", node


def test_a_rib_fracture_sentence_gets_its_rib(tmp_path: Path) -> None:
    import radgenome
    from radgenome.pipeline.link import link_case

    p, seg = segmented("chest")
    side = write_segmentation(seg, CTVolume("chest", p.hu, p.affine), tmp_path).sidecar_data
    a = radgenome.analyze_report("Fracture of the left 7th rib. Compression of the T12 vertebral body.")
    links, flags = link_case(a, LabelInfo.from_sidecar(side))
    assert links["left rib 7"].status == "ok"
    assert any(n.startswith("thoracic vertebrae 12") and lk.status == "ok" for n, lk in links.items())
    assert not [f for f in flags if f.kind == "empty_mask"]


def test_not_subdivided_warnings_round_trip() -> None:
    w = not_subdivided_warning("vertebrae", "no level anchor in view")
    assert w == "vertebrae: not subdivided in this case (no level anchor in view)"
    assert not_subdivided_nodes([w, "rib: outside the field of view (x)", "lungs: something"]) == ["vertebrae"]


@pytest.mark.parametrize("fov", ["chest", "abdomen_with_lung_bases"])
def test_levels_stay_out_of_the_soft_tissue(fov: str) -> None:
    """The numbered bones replace the bone masks: nothing else changes where they are painted."""
    p, seg = segmented(fov)
    bones = region_mask(seg.labelmap, seg.labels, "bone")
    lungs = region_mask(seg.labelmap, seg.labels, "lung")
    assert not (bones & lungs).any()
    assert dice(bones & ~mask(seg, CARTILAGE), p.mask(*[n for n in p.labels.values()
                                                          if n in NUMBERED or n in ("sternum", "left clavicle",
                                                                                    "right clavicle",
                                                                                    "left scapula",
                                                                                    "right scapula")])) > 0.8

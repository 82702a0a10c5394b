"""The classical segmenter on synthetic phantoms: contract, regions, Dice floors, left/right, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radgenome.anatomy import TOP_LEVEL_REGIONS, is_mask_name, load_hierarchy
from radgenome.model import CTVolume, Segmentation
from radgenome.regions import region_mask
from radgenome.segmentation.base import SegmentationError, Segmenter
from radgenome.segmentation.classical import ClassicalSegmenter
from radgenome.synth.phantom import LOBES, Phantom, make_phantom

ANATOMICAL = tuple(r for r in TOP_LEVEL_REGIONS if r != "others")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


def seg_mask(seg: Segmentation, *names: str) -> np.ndarray:
    """Union of the named nodes' masks over the hierarchy (``vertebrae`` includes the numbered levels)."""
    out = np.zeros(seg.labelmap.shape, dtype=bool)
    for n in names:
        out |= region_mask(seg.labelmap, seg.labels, n)
    return out


def seg_prefix(seg: Segmentation, prefix: str) -> np.ndarray:
    return np.isin(seg.labelmap, [i for i, n in seg.labels.items() if n.startswith(prefix)])


@pytest.fixture(scope="module")
def segmenter() -> ClassicalSegmenter:
    return ClassicalSegmenter()


@pytest.fixture(scope="module")
def male(segmenter: ClassicalSegmenter) -> tuple[Phantom, Segmentation]:
    p = make_phantom(seed=1)
    return p, segmenter.segment(CTVolume("male", p.hu, p.affine))


@pytest.fixture(scope="module")
def female(segmenter: ClassicalSegmenter) -> tuple[Phantom, Segmentation]:
    p = make_phantom(seed=2, female=True, touching_lungs=True)
    return p, segmenter.segment(CTVolume("female", p.hu, p.affine))


def test_protocol_and_contract(segmenter: ClassicalSegmenter, male: tuple[Phantom, Segmentation]) -> None:
    p, seg = male
    assert isinstance(segmenter, Segmenter)
    assert segmenter.name == "classical" and "+classical." in segmenter.version
    json.dumps(segmenter.settings())
    json.dumps(seg.settings)
    assert seg.labelmap.shape == p.hu.shape and seg.labelmap.dtype == np.uint8
    assert seg.backend == "classical" and seg.version == segmenter.version
    assert set(np.unique(seg.labelmap)) - {0} == set(seg.labels)
    for name in seg.labels.values():
        info = seg.info[name]
        assert 0.0 < info.confidence <= 1.0 and info.method
        assert is_mask_name(name) or info.extra, name
    assert seg.info["body"].extra and seg.info["pleura"].extra
    assert "lobe" in seg.settings["lobes"]["method"] or "approximation" in seg.settings["lobes"]["method"]


def test_all_regions_found(female: tuple[Phantom, Segmentation]) -> None:
    _, seg = female
    h = load_hierarchy()
    found: set[str] = set()
    for name in seg.labels.values():
        if name in h.nodes:
            found.update(h.top_regions(name))
    missing = set(ANATOMICAL) - found
    assert not missing, missing


def test_male_has_no_breast_but_says_so(male: tuple[Phantom, Segmentation]) -> None:
    _, seg = male
    assert not {"left breast", "right breast"} & set(seg.labels.values())
    assert any(w.startswith("breast") for w in seg.warnings)


FLOORS = {  # phantom Dice floors, just under what the method reaches (see docs/classical.md)
    "body": 0.99,
    "lungs": 0.97,
    "right lung": 0.96,
    "left lung": 0.95,
    "heart": 0.93,
    "trachea": 0.92,
    "liver": 0.88,
    "airway": 0.8,
    "bronchie": 0.6,
    "sternum": 0.85,
    "vertebrae": 0.8,
    "ribs": 0.72,
    "thyroid": 0.75,
    "mediastinal tissue": 0.6,
    "abdominal tissue": 0.7,
    "aorta": 0.6,
    "esophagus": 0.55,
    "lobes": 0.7,
}


def _scores(p: Phantom, seg: Segmentation) -> dict[str, float]:
    right_t = p.mask(*LOBES[:3])
    left_t = p.mask(*LOBES[3:])
    s = {
        "body": dice(seg.labelmap > 0, p.labelmap > 0),
        "lungs": dice(seg_prefix(seg, "right lung") | seg_prefix(seg, "left lung"), right_t | left_t),
        "right lung": dice(seg_prefix(seg, "right lung"), right_t),
        "left lung": dice(seg_prefix(seg, "left lung"), left_t),
        "airway": dice(seg_mask(seg, "trachea", "bronchie"), p.mask("trachea", "bronchie")),
        "thyroid": dice(seg_mask(seg, "left thyroid", "right thyroid"), p.mask("left thyroid", "right thyroid")),
        "vertebrae": dice(
            seg_mask(seg, "vertebrae"),
            p.mask_prefix("thoracic vert") | p.mask_prefix("cervical") | p.mask_prefix("lumbar"),
        ),
        "ribs": min(dice(seg_mask(seg, f"{s} rib"), p.mask_prefix(f"{s} rib ")) for s in ("left", "right")),
        "lobes": min(dice(seg_mask(seg, n), p.mask(n)) for n in LOBES),
    }
    for n in (
        "heart",
        "trachea",
        "liver",
        "bronchie",
        "sternum",
        "mediastinal tissue",
        "abdominal tissue",
        "aorta",
        "esophagus",
    ):
        s[n] = dice(seg_mask(seg, n), p.mask(n))
    return s


@pytest.mark.parametrize("case", ["male", "female"])
def test_phantom_dice(case: str, request: pytest.FixtureRequest) -> None:
    p, seg = request.getfixturevalue(case)
    scores = _scores(p, seg)
    low = {k: round(v, 3) for k, v in scores.items() if v < FLOORS[k]}
    assert not low, low


def test_breasts_female(female: tuple[Phantom, Segmentation]) -> None:
    p, seg = female
    for side in ("left", "right"):
        assert dice(seg_mask(seg, f"{side} breast"), p.mask(f"{side} breast")) > 0.7


def _centroid_x(seg: Segmentation, affine: np.ndarray, mask: np.ndarray) -> float:
    idx = np.argwhere(mask).mean(axis=0)
    return float((affine @ np.append(idx, 1.0))[0])


def test_left_right_follow_the_affine(segmenter: ClassicalSegmenter, male: tuple[Phantom, Segmentation]) -> None:
    """A volume stored with x running right-to-left (LAS) still gets its left lung at negative world x."""
    p, seg = male
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = p.hu.shape[0] - 1
    aff = p.affine @ flip
    hu = np.ascontiguousarray(p.hu[::-1])
    seg2 = segmenter.segment(CTVolume("las", hu, aff))
    for s in (seg, seg2):
        a = aff if s is seg2 else p.affine
        assert _centroid_x(s, a, seg_prefix(s, "left lung")) < -30
        assert _centroid_x(s, a, seg_prefix(s, "right lung")) > 30
    # same physical masks
    assert dice(seg_prefix(seg2, "left lung")[::-1], seg_prefix(seg, "left lung")) > 0.98


def test_lesion_phantom_still_segments(segmenter: ClassicalSegmenter) -> None:
    p = make_phantom(seed=3, nodule=("right lung lower lobe", 15.0), effusion="left")
    seg = segmenter.segment(CTVolume("lesions", p.hu, p.affine))
    assert dice(seg_prefix(seg, "left lung"), p.mask(*LOBES[3:])) > 0.9
    assert _centroid_x(seg, p.affine, seg_prefix(seg, "left lung")) < 0


def test_contrast_enhanced(segmenter: ClassicalSegmenter, male: tuple[Phantom, Segmentation]) -> None:
    """Contrast-filled heart and aorta exceed the bone threshold: they must stay heart/aorta, not sternum."""
    p = make_phantom(seed=1, contrast=True)
    seg = segmenter.segment(CTVolume("contrast", p.hu, p.affine))
    assert seg.settings["contrast_suspected"] and not male[1].settings["contrast_suspected"]
    assert dice(seg_mask(seg, "heart"), p.mask("heart")) > 0.93
    assert dice(seg_mask(seg, "aorta"), p.mask("aorta")) > 0.6
    assert dice(seg_mask(seg, "sternum"), p.mask("sternum")) > 0.9
    ribs = min(dice(seg_mask(seg, f"{s} rib"), p.mask_prefix(f"{s} rib ")) for s in ("left", "right"))
    assert ribs > 0.72


def test_scanner_table_is_not_body(segmenter: ClassicalSegmenter) -> None:
    p = make_phantom(seed=8, table=True)
    seg = segmenter.segment(CTVolume("table", p.hu, p.affine))
    assert dice(seg.labelmap > 0, p.labelmap > 0) > 0.98
    table_shell = (p.hu > 250) & (p.labelmap == 0)
    # the table top touching the back through a pad: all but the few mm next to the skin stay outside
    assert table_shell.sum() > 100 and (seg.labelmap[table_shell] == 0).mean() > 0.9


def test_noisy_low_dose_like(segmenter: ClassicalSegmenter) -> None:
    """Heavy noise switches soft-tissue classification to smoothed HU: heart and liver are still found."""
    p = make_phantom(seed=6, noise=40.0, lung_noise=80.0)
    seg = segmenter.segment(CTVolume("noisy", p.hu, p.affine))
    assert seg.settings["noise_hu"] > 25.0
    assert dice(seg_mask(seg, "heart"), p.mask("heart")) > 0.85
    assert dice(seg_mask(seg, "liver"), p.mask("liver")) > 0.8
    assert dice(seg_prefix(seg, "left lung"), p.mask(*LOBES[3:])) > 0.95


def test_fine_grid_is_refined_at_full_resolution(segmenter: ClassicalSegmenter) -> None:
    """On a grid finer than the working one, the lung surface is refined voxel-wise after upsampling."""
    p = make_phantom((192, 192, 100), (1.75, 1.75, 3.2), seed=11)
    seg = segmenter.segment(CTVolume("fine", p.hu, p.affine))
    assert seg.settings["working_grid"]["factors"] == [2, 2, 1]
    assert "refine" in segmenter.last_timings
    assert dice(seg_prefix(seg, "right lung") | seg_prefix(seg, "left lung"), p.mask(*LOBES)) > 0.985
    assert dice(seg_prefix(seg, "left lung"), p.mask(*LOBES[3:])) > 0.97


def test_one_lung(segmenter: ClassicalSegmenter) -> None:
    """A collapsed (airless) left lung: the right lung is still found, the left is warned, not invented."""
    p = make_phantom(seed=10)
    hu = p.hu.copy()
    hu[p.mask(*LOBES[3:])] = 30
    seg = segmenter.segment(CTVolume("one_lung", hu, p.affine))
    assert not any(n.startswith("left lung") for n in seg.labels.values())
    assert dice(seg_prefix(seg, "right lung"), p.mask(*LOBES[:3])) > 0.97
    assert "lungs: only one lung found" in seg.warnings


def test_missing_structures_are_warned_not_faked(segmenter: ClassicalSegmenter) -> None:
    p = make_phantom(seed=4)
    z = p.affine[2, 3] + p.affine[2, 2] * np.arange(p.hu.shape[2])
    keep = z < 100.0  # cut at the upper chest: no thyroid in the field of view
    seg = segmenter.segment(CTVolume("cut", np.ascontiguousarray(p.hu[:, :, keep]), p.affine))
    names = set(seg.labels.values())
    assert not {"left thyroid", "right thyroid"} & names
    assert any(w.startswith("thyroid") for w in seg.warnings)


@pytest.mark.parametrize(
    ("hu", "needle"),
    [
        (np.zeros((40, 40, 30), np.int16), "constant"),
        (np.full((40, 40, 30), 300, np.int16) + np.arange(30, dtype=np.int16) * 100, "HU"),
        (np.zeros((40, 40), np.int16), "3-D"),
        (np.zeros((4, 40, 30), np.int16), "too small"),
    ],
)
def test_bad_input(segmenter: ClassicalSegmenter, hu: np.ndarray, needle: str) -> None:
    with pytest.raises(SegmentationError, match=needle) as exc:
        segmenter.segment(CTVolume("bad_case", hu, np.eye(4)))
    assert "bad_case" in str(exc.value)


def test_raw_stored_values_are_not_hu(segmenter: ClassicalSegmenter) -> None:
    p = make_phantom(seed=9)
    raw = p.hu.astype(np.int32) + 1024  # CT-RATE-like stored values, rescale not applied
    with pytest.raises(SegmentationError, match="HU"):
        segmenter.segment(CTVolume("raw_case", raw, p.affine))


def test_nan_input(segmenter: ClassicalSegmenter) -> None:
    hu = np.full((40, 40, 30), -1000.0, np.float32)
    hu[5, 5, 5] = np.nan
    with pytest.raises(SegmentationError, match="NaN"):
        segmenter.segment(CTVolume("nan_case", hu, np.eye(4)))


def test_no_lungs(segmenter: ClassicalSegmenter) -> None:
    p = make_phantom(seed=5)
    hu = p.hu.copy()
    hu[p.mask(*LOBES, "trachea", "bronchie")] = 40  # a body without air inside
    with pytest.raises(SegmentationError, match="no lungs"):
        segmenter.segment(CTVolume("airless", hu, p.affine))


def test_no_body(segmenter: ClassicalSegmenter) -> None:
    rng = np.random.default_rng(0)
    hu = (rng.standard_normal((40, 40, 30)) * 20 - 1000).astype(np.float32)
    hu[20, 20, 15] = 400.0  # a speck, no body
    with pytest.raises(SegmentationError, match=r"no body|no lungs"):
        segmenter.segment(CTVolume("air_only", hu, np.eye(4)))

"""Node ↔ mask linking from a sidecar: statuses, field-of-view rule, consistency flags."""

from __future__ import annotations

from typing import Any

import numpy as np

from radgenome.model import Report
from radgenome.pipeline.link import LabelInfo, Linker, link_case
from radgenome.text.engine import RulesBackend


def _sidecar(structures: dict[str, tuple[int, list[int], list[float]]], backend: str = "classical") -> dict[str, Any]:
    """structures: name -> (voxels, bbox_ijk, centroid_mm) on a 1 mm identity grid."""
    return {
        "backend": backend,
        "affine": np.eye(4).tolist(),
        "labels": {str(i + 1): n for i, n in enumerate(structures)},
        "stats": {n: {"voxels": v, "bbox_ijk": b, "centroid_mm": c} for n, (v, b, c) in structures.items()},
    }


CHEST = {
    "body": (10_000, [0, 0, 0, 300, 200, 200], [150.0, 100.0, 100.0]),
    "right lung upper lobe": (900, [160, 50, 100, 260, 150, 195], [210.0, 100.0, 150.0]),
    "right lung lower lobe": (900, [160, 50, 5, 260, 150, 100], [210.0, 100.0, 50.0]),
    "left lung upper lobe": (900, [40, 50, 100, 140, 150, 195], [90.0, 100.0, 150.0]),
    "left lung lower lobe": (900, [40, 50, 5, 140, 150, 100], [90.0, 100.0, 50.0]),
    "heart": (400, [120, 100, 40, 180, 160, 100], [150.0, 130.0, 70.0]),
    "liver": (0, [], []),
}


def _analysis(findings: str) -> Any:
    return RulesBackend().analyze(Report(volume="v.nii.gz", findings=findings))


def test_statuses_and_fov() -> None:
    linker = Linker(LabelInfo.from_sidecar(_sidecar(CHEST)))
    assert linker.link("left lung").status == "ok"
    assert linker.link("left lung").voxels == 1800
    assert linker.link("lung").structures == sorted(n for n in CHEST if "lobe" in n)
    assert linker.link("others").status == "no_structure"
    assert linker.link("kidney").status == "no_structure"  # classical does not segment kidneys
    # body ends 5 mm below the lung bases: the liver is outside the field of view, not "empty"
    assert linker.link("liver").status == "outside_fov"
    # breasts are segmented by classical, the scan covers them, none found: empty
    assert linker.link("left breast").status == "empty"
    # the aorta belongs to the mediastinum too: no abdominal field-of-view rule for it
    assert linker.link("aorta").status == "empty"
    assert Linker(None).link("lung").status == "not_segmented"


def test_liver_empty_when_the_scan_reaches_the_abdomen() -> None:
    s = dict(CHEST)
    s["body"] = (10_000, [0, 0, -120, 300, 200, 200], [150.0, 100.0, 50.0])
    assert Linker(LabelInfo.from_sidecar(_sidecar(s))).link("liver").status == "empty"


def test_link_case_nodes_and_flags() -> None:
    a = _analysis("The heart is normal. A 12 mm nodule in the left lung upper lobe. "
                  "Both breasts are normal. The liver is normal.")
    masks, flags = link_case(a, LabelInfo.from_sidecar(_sidecar(CHEST)))
    assert masks["heart"].status == "ok" and masks["left lung upper lobe"].status == "ok"
    assert {"lung", "heart"} <= set(masks)  # top-level regions the nodes expand to
    assert all(m.status != "ok" or m.voxels > 0 for m in masks.values())
    assert masks["liver"].status == "outside_fov"
    kinds = {(f.kind, f.node) for f in flags}
    assert ("empty_mask", "left breast") in kinds or ("empty_mask", "breast") in kinds
    assert not any(f.kind == "empty_mask" and f.node == "liver" for f in flags)


def test_laterality_conflicts() -> None:
    s = dict(CHEST)
    s["left lung upper lobe"] = (0, [], [])
    s["left lung lower lobe"] = (0, [], [])
    _, flags = link_case(_analysis("Atelectasis in the left lung."), LabelInfo.from_sidecar(_sidecar(s)))
    assert any(f.kind == "laterality_conflict" and f.node == "left lung" for f in flags)
    # sides swapped relative to the affine: the 'left' lobes lie at larger x (patient right in RAS)
    swapped = dict(CHEST)
    for name in ("left lung upper lobe", "left lung lower lobe"):
        v, b, c = swapped[name]
        swapped[name] = (v, b, [c[0] + 200.0, c[1], c[2]])
    _, flags = link_case(_analysis("The heart is normal."), LabelInfo.from_sidecar(_sidecar(swapped)))
    assert any(f.kind == "laterality_conflict" and "contradict the affine" in f.detail for f in flags)
    _, flags = link_case(_analysis("The heart is normal."), LabelInfo.from_sidecar(_sidecar(CHEST)))
    assert not any(f.kind == "laterality_conflict" for f in flags)


def test_size_larger_than_mask_is_flagged() -> None:
    _, flags = link_case(_analysis("A 90 cm mass in the heart."), LabelInfo.from_sidecar(_sidecar(CHEST)))
    assert any(f.kind == "size_exceeds_mask" and f.node == "heart" for f in flags)

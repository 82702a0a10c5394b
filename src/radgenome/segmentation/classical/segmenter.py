"""The classical (no learned weights) segmenter: orchestrates the steps and assembles the label map."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from radgenome import __version__
from radgenome.model import CTVolume, Segmentation, StructureInfo
from radgenome.segmentation.base import SegmentationError
from radgenome.segmentation.classical import airway as airway_mod
from radgenome.segmentation.classical import bones as bones_mod
from radgenome.segmentation.classical import lungs as lungs_mod
from radgenome.segmentation.classical import mediastinum as med_mod
from radgenome.segmentation.classical import soft_tissue as soft_mod
from radgenome.segmentation.classical.body import BODY_HU, TABLE_OPEN_MM, segment_body
from radgenome.segmentation.classical.grid import bbox, downsample, upsample_labels
from radgenome.segmentation.classical.refine import refine_bone_boundary, refine_boundary, refine_lung_boundary

ALGORITHM_VERSION = "1"
MIN_SHAPE = 8

# (name, method, confidence, extra) in painting order: later entries win where masks overlap.
STRUCTURES: tuple[tuple[str, str, float, bool], ...] = (
    ("body", "threshold>-500HU+table-opening+largest-cc3d+2D-hole-fill", 0.95, True),
    ("abdominal tissue", "body below the lung-base surface (extrapolated diaphragm)", 0.5, False),
    ("thoracic cavity", "per-slice convex hull of lungs+sternum, remainder", 0.5, False),
    ("mediastinal tissue", "cavity between the lungs minus organs", 0.5, False),
    ("pleura", "4 mm shell around the lungs within the cavity", 0.3, True),
    ("left breast", "tissue protruding in front of the chest wall (approximation)", 0.3, False),
    ("right breast", "tissue protruding in front of the chest wall (approximation)", 0.3, False),
    ("liver", "right upper-abdominal soft tissue 48-160 HU, opening, largest blob (approximation)", 0.4, False),
    ("heart", "largest mediastinal soft-tissue blob below the carina after 14 mm opening", 0.5, False),
    ("aorta", "per-slice circle search left-posterior (descending) / right-anterior (ascending)", 0.3, False),
    ("esophagus", "disc between airway and vertebral body, snapped to luminal air (approximation)", 0.25, False),
    ("left thyroid", "dense tissue beside the trachea above the lung apex (approximation)", 0.3, False),
    ("right thyroid", "dense tissue beside the trachea above the lung apex (approximation)", 0.3, False),
    ("right lung upper lobe", "lung threshold+cc3d; lobe by anatomical planes (approximation)", 0.35, False),
    ("right lung middle lobe", "lung threshold+cc3d; lobe by anatomical planes (approximation)", 0.3, False),
    ("right lung lower lobe", "lung threshold+cc3d; lobe by anatomical planes (approximation)", 0.35, False),
    ("left lung upper lobe", "lung threshold+cc3d; lobe by anatomical planes (approximation)", 0.35, False),
    ("left lung lower lobe", "lung threshold+cc3d; lobe by anatomical planes (approximation)", 0.35, False),
    ("trachea", "air region growing from the trachea seed, above the carina", 0.8, False),
    ("bronchie", "air region growing, below the carina (main/lobar bronchi)", 0.6, False),
    ("vertebrae", "bone>180HU persistent near the posterior midline + arches (no numbering)", 0.7, False),
    ("sternum", "bone anterior midline", 0.5, False),
    ("left rib", "bone within 22 mm of the lungs, left of the spine (no numbering)", 0.6, False),
    ("right rib", "bone within 22 mm of the lungs, right of the spine (no numbering)", 0.6, False),
    ("left clavicle", "anterior-superior bone away from the lungs", 0.5, False),
    ("right clavicle", "anterior-superior bone away from the lungs", 0.5, False),
    ("left scapula", "posterior-lateral bone outside the rib cage", 0.5, False),
    ("right scapula", "posterior-lateral bone outside the rib cage", 0.5, False),
)

AIRWAY_REFINE_HU = -600.0
"""At full resolution, airway lumen is darker than this (its wall and the mediastinum are not)."""
BONE_NAMES = frozenset(
    {
        "vertebrae",
        "sternum",
        "left rib",
        "right rib",
        "left clavicle",
        "right clavicle",
        "left scapula",
        "right scapula",
    }
)

EXPECTED = (
    "trachea",
    "bronchie",
    "heart",
    "aorta",
    "esophagus",
    "mediastinal tissue",
    "vertebrae",
    "left rib",
    "right rib",
    "sternum",
    "abdominal tissue",
)


class ClassicalSegmenter:
    """Threshold, connected-component and geometry based chest CT segmenter (numpy/scipy/cc3d only)."""

    def __init__(self, name: str = "classical", working_mm: float = 3.0) -> None:
        self.name = name
        self.working_mm = float(working_mm)
        self.last_timings: dict[str, float] = {}

    @property
    def version(self) -> str:
        return f"{__version__}+classical.{ALGORITHM_VERSION}"

    def settings(self) -> dict[str, Any]:
        return {
            "working_mm": self.working_mm,
            "body_hu": BODY_HU,
            "table_open_mm": TABLE_OPEN_MM,
            "lung_hu": lungs_mod.LUNG_HU,
            "min_lung_ml": lungs_mod.MIN_LUNG_ML,
            "lung_close_mm": lungs_mod.CLOSE_MM,
            "lobes": {
                "method": "anatomical approximation (oblique/horizontal planes relative to each lung's extent)",
                "oblique_posterior_height": lungs_mod.OBLIQUE_POST,
                "oblique_anterior_height": lungs_mod.OBLIQUE_ANT,
                "horizontal_height": lungs_mod.HORIZONTAL,
            },
            "airway_seed_hu": airway_mod.SEED_HU,
            "airway_grow_thresholds": list(airway_mod.GROW_THRESHOLDS),
            "airway_leak_ratio": airway_mod.LEAK_RATIO,
            "airway_max_ml": airway_mod.MAX_AIRWAY_ML,
            "airway_tophat": {
                "closing_half_mm": airway_mod.TOPHAT_MM,
                "min_tophat_hu": airway_mod.TOPHAT_HU,
                "max_hu": airway_mod.EXTEND_HU,
                "steps": airway_mod.EXTEND_STEPS,
            },
            "bone_hu": bones_mod.BONE_HU,
            "hard_bone_hu": bones_mod.HARD_BONE_HU,
            "contrast_blood_ml": bones_mod.CONTRAST_BLOOD_ML,
            "rib_max_dist_mm": bones_mod.RIB_MAX_DIST_MM,
            "heart_soft_hu": list(med_mod.SOFT_HU),
            "heart_open_mm": med_mod.HEART_OPEN_MM,
            "aorta_radius_mm": list(med_mod.AORTA_R_MM),
            "thyroid_hu": list(med_mod.THYROID_HU),
            "liver_hu": list(soft_mod.LIVER_HU),
            "breast_min_protrusion_mm": soft_mod.BREAST_MIN_PROTRUSION_MM,
            "pleura_mm": soft_mod.PLEURA_MM,
        }

    # ------------------------------------------------------------------------------------------------
    def _check(self, volume: CTVolume) -> np.ndarray:
        cid = volume.case_id
        hu = np.asarray(volume.hu)
        if hu.ndim != 3:
            raise SegmentationError(f"{cid}: expected a 3-D volume, got shape {hu.shape}")
        if min(hu.shape) < MIN_SHAPE:
            raise SegmentationError(f"{cid}: volume too small to segment ({hu.shape}; need >= {MIN_SHAPE} per axis)")
        if hu.dtype.kind == "f" and not np.isfinite(hu).all():
            raise SegmentationError(f"{cid}: volume contains NaN or infinite values")
        lo, hi = float(hu.min()), float(hu.max())
        if hi - lo < 50.0:
            raise SegmentationError(f"{cid}: constant volume (HU range {lo:.0f}..{hi:.0f})")
        if lo > -500.0:
            raise SegmentationError(
                f"{cid}: no voxel below -500 (range {lo:.0f}..{hi:.0f}): no air, the values do not look like HU"
            )
        step = max(1, round((hu.size / 2e6) ** (1 / 3)))
        sample = hu[::step, ::step, ::step]
        air = np.count_nonzero((sample > -1100) & (sample < -850))
        if air < 1e-3 * sample.size:
            raise SegmentationError(
                f"{cid}: almost no voxel near -1000 (air): the values do not look like HU "
                f"(range {lo:.0f}..{hi:.0f}; raw stored values without the rescale?)"
            )
        aff = np.asarray(volume.affine, dtype=np.float64)
        if aff.shape != (4, 4) or not np.isfinite(aff).all() or abs(np.linalg.det(aff[:3, :3])) < 1e-9:
            raise SegmentationError(f"{cid}: invalid affine")
        return hu

    def segment(self, volume: CTVolume) -> Segmentation:
        cid = volume.case_id
        hu = self._check(volume)
        aff = np.asarray(volume.affine, dtype=np.float64)
        warnings: list[str] = []
        t: dict[str, float] = {}
        t0 = time.perf_counter()

        def lap(step: str) -> None:
            nonlocal t0
            now = time.perf_counter()
            t[step] = now - t0
            t0 = now

        g = downsample(hu, aff, self.working_mm)
        lap("downsample")
        body = segment_body(g)
        if body.sum() * g.voxel_ml() < 50.0:
            raise SegmentationError(f"{cid}: no body found (no tissue region above {BODY_HU:.0f} HU)")
        work_shape = g.shape
        crop = bbox(body, margin=2)
        assert crop is not None
        g = g.crop(crop)
        body = np.ascontiguousarray(body[crop])
        x_mid = float(g.centroid_world(body)[0])
        lap("body")
        aw = airway_mod.segment_airway(g, body, x_mid)
        warnings += [f"airway: {n}" for n in aw.notes]
        lap("airway")
        lungs = lungs_mod.segment_lungs(g, body, aw.mask, x_mid)
        if lungs is None or not (lungs.right.any() or lungs.left.any()):
            raise SegmentationError(f"{cid}: no lungs found (no air region of >= {lungs_mod.MIN_LUNG_ML} ml)")
        warnings += [f"lungs: {n}" for n in lungs.notes]
        masks: dict[str, np.ndarray] = {}
        masks.update(lungs_mod.approximate_lobes(g, lungs.right, right=True))
        masks.update(lungs_mod.approximate_lobes(g, lungs.left, right=False))
        lung_all = lungs.right | lungs.left
        lap("lungs+lobes")
        bones = bones_mod.segment_bones(g, body, lung_all, x_mid)
        warnings += [f"bones: {n}" for n in bones.notes]
        bone_all = np.zeros_like(body)
        for m in bones.masks.values():
            bone_all |= m
        lap("bones")
        abdomen = med_mod.lung_base_surface(g, lungs.right, lungs.left, body)
        med = med_mod.segment_mediastinum(
            g,
            body,
            lungs.right,
            lungs.left,
            aw.mask,
            aw.trachea,
            bone_all,
            bones.masks.get("sternum"),
            bones.spine_xy,
            aw.carina_z,
            abdomen,
            x_mid,
        )
        warnings += [f"mediastinum: {n}" for n in med.notes]
        lap("mediastinum")
        liver = soft_mod.segment_liver(g, abdomen, body, lungs.right, x_mid)
        breasts = soft_mod.segment_breasts(g, body, med.cavity, lung_all, abdomen, x_mid)
        pleura = soft_mod.pleura_shell(g, lungs.right, lungs.left, med.cavity)
        lap("abdomen+breast+pleura")

        masks.update(
            {
                "body": body,
                "abdominal tissue": abdomen,
                "thoracic cavity": med.cavity,
                "mediastinal tissue": med.region,
                "pleura": pleura,
                "liver": liver,
                "heart": med.heart,
                "aorta": med.aorta,
                "esophagus": med.esophagus,
                "left thyroid": med.thyroid_left,
                "right thyroid": med.thyroid_right,
                "trachea": aw.trachea,
                "bronchie": aw.bronchi,
            }
        )
        masks.update(breasts)
        masks.update(bones.masks)
        lab = np.zeros(g.shape, dtype=np.uint8)
        labels: dict[int, str] = {}
        info: dict[str, StructureInfo] = {}
        for i, (name, *_rest) in enumerate(STRUCTURES, start=1):
            m = masks.get(name)
            if m is None or not m.any():
                continue
            lab[m & body] = i
        present = set(np.unique(lab).tolist())
        for i, (name, method, conf, extra) in enumerate(STRUCTURES, start=1):
            if i in present:
                labels[i] = name
                info[name] = StructureInfo(method=method, confidence=conf, extra=extra)
        info_lung = f"left/right split: {lungs.split_method}"
        for name in list(info):
            if "lung" in name and "lobe" in name:
                info[name] = StructureInfo(method=f"{info[name].method}; {info_lung}", confidence=info[name].confidence)
        found = set(labels.values())
        for name in EXPECTED:
            if name not in found:
                warnings.append(f"{name}: expected but not found")
        if not (found & {"left thyroid", "right thyroid"}):
            warnings.append(_thyroid_note(g, lung_all))
        if not (found & {"left breast", "right breast"}):
            warnings.append("breast: no tissue protruding in front of the chest wall (absent or male)")
        if "liver" not in found:
            warnings.append("liver: not found (upper abdomen not in the field of view or not separable)")
        lap("assemble")
        lab_work = np.zeros(work_shape, dtype=np.uint8)
        lab_work[crop] = lab
        full = upsample_labels(lab_work, g.factors, g.full_shape)
        lap("upsample")
        if g.factors != (1, 1, 1):
            ids = {n: i for i, n in labels.items()}
            lung_ids = [i for n, i in ids.items() if n.endswith("lobe")]
            refine_lung_boundary(
                full,
                hu,
                lab_work,
                g.factors,
                lung_ids,
                [i for n, i in ids.items() if n in ("trachea", "bronchie")],
                lungs_mod.LUNG_HU,
            )
            refine_bone_boundary(
                full,
                hu,
                lab_work,
                g.factors,
                [i for n, i in ids.items() if n in BONE_NAMES],
                [i for n, i in ids.items() if n in ("trachea", "bronchie")] + lung_ids,
                bones_mod.BONE_HU,
            )
            # airway lumen: only towards non-lung neighbours (lung parenchyma is dark too)
            refine_boundary(
                full,
                hu,
                lab_work,
                g.factors,
                [i for n, i in ids.items() if n in ("trachea", "bronchie")],
                lung_ids,
                AIRWAY_REFINE_HU,
                below=True,
            )
            lap("refine")
        self.last_timings = t
        settings = self.settings()
        settings["working_grid"] = {"factors": list(g.factors), "spacing_mm": [float(s) for s in g.spacing]}
        settings["airway_threshold_used"] = aw.threshold
        settings["carina_z_mm"] = aw.carina_z
        settings["lung_split"] = lungs.split_method
        settings["noise_hu"] = round(g.noise_hu, 1)
        settings["contrast_suspected"] = bones.contrast
        return Segmentation(
            labelmap=full,
            labels=labels,
            info=info,
            backend=self.name,
            version=self.version,
            settings=settings,
            warnings=warnings,
        )


def _thyroid_note(g: Any, lungs: np.ndarray) -> str:
    z = g.axis_world(2)[0, 0, :]
    lz = z[lungs.any(axis=(0, 1))]
    margin = float(z.max() - lz.max()) if len(lz) else 0.0
    if margin < 20.0:
        return f"thyroid: not in the field of view (only {margin:.0f} mm above the lung apex)"
    return "thyroid: expected but not found"

"""The classical (no learned weights) segmenter: orchestrates the steps and assembles the label map."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from radgenome import __version__
from radgenome.anatomy import UnknownNodeError
from radgenome.model import CTVolume, Segmentation, StructureInfo
from radgenome.regions import NotAMaskError, resolve
from radgenome.segmentation.base import SegmentationError
from radgenome.segmentation.classical import airway as airway_mod
from radgenome.segmentation.classical import bones as bones_mod
from radgenome.segmentation.classical import fov as fov_mod
from radgenome.segmentation.classical import frame as frame_mod
from radgenome.segmentation.classical import lungs as lungs_mod
from radgenome.segmentation.classical import mediastinum as med_mod
from radgenome.segmentation.classical import soft_tissue as soft_mod
from radgenome.segmentation.classical import thorax as thorax_mod
from radgenome.segmentation.classical.body import BODY_HU, TABLE_OPEN_MM, segment_body
from radgenome.segmentation.classical.grid import WorkGrid, bbox, downsample, upsample_labels
from radgenome.segmentation.classical.refine import refine_bone_boundary, refine_boundary, refine_lung_boundary

ALGORITHM_VERSION = "2"
MIN_SHAPE = 8

LUNG_METHOD = (
    "air <-400HU+cc3d, not gas, reached by the airway or inside the rib cage; lobe by anatomical planes (approximation)"
)
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
    ("right lung upper lobe", LUNG_METHOD, 0.35, False),
    ("right lung middle lobe", LUNG_METHOD, 0.3, False),
    ("right lung lower lobe", LUNG_METHOD, 0.35, False),
    ("left lung upper lobe", LUNG_METHOD, 0.35, False),
    ("left lung lower lobe", LUNG_METHOD, 0.35, False),
    ("trachea", "air region growing from the trachea seed, above the carina", 0.8, False),
    ("bronchie", "air region growing, below the carina (main/lobar bronchi)", 0.6, False),
    ("vertebrae", "bone>180HU persistent near the posterior midline, tracked per slice, + arches (no numbering)", 0.7,
     False),
    ("sternum", "bone anterior midline", 0.5, False),
    ("left rib", "bone within 22 mm of the lungs (no lungs: rib-cage sections), left of the spine (no numbering)",
     0.6, False),
    ("right rib", "bone within 22 mm of the lungs (no lungs: rib-cage sections), right of the spine (no numbering)",
     0.6, False),
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
            "lung_acceptance": {
                "gas_median_hu": lungs_mod.GAS_MEDIAN_HU,
                "airway_near_mm": lungs_mod.AIRWAY_NEAR_MM,
                "cage_fraction": lungs_mod.CAGE_FRACTION,
                "large_lung_ml": lungs_mod.LARGE_LUNG_ML,
                "cut_area_mm2": lungs_mod.CUT_AREA_MM2,
                "assumed_lung_height_mm": lungs_mod.LUNG_HEIGHT_MM,
            },
            "thorax": {
                "spine_persist_mm": thorax_mod.PERSIST_MM,
                "rib_section_max_mm2": thorax_mod.RIB_SECTION_MAX_MM2,
                "cage_min_run_mm": thorax_mod.CAGE_MIN_RUN_MM,
                "airless_cage_mm": fov_mod.AIRLESS_CAGE_MM,
            },
            "frame": {
                "rotate_min_deg": frame_mod.ROTATE_MIN_DEG,
                "rotate_max_deg": frame_mod.ROTATE_MAX_DEG,
                "min_aspect": frame_mod.MIN_ASPECT,
            },
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
            "trachea_top_mm": airway_mod.TRACHEA_TOP_MM,
            "trachea_max_ahead_mm": airway_mod.TRACHEA_MAX_AHEAD_MM,
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

        try:
            g = frame_mod.to_patient_frame(downsample(hu, aff, self.working_mm))
        except ValueError as exc:
            raise SegmentationError(f"{cid}: {exc}") from exc
        lap("downsample")
        body = segment_body(g)
        if body.sum() * g.voxel_ml() < 50.0:
            raise SegmentationError(f"{cid}: no body found (no tissue region above {BODY_HU:.0f} HU)")
        work_shape = g.shape
        crop = bbox(body, margin=2)
        assert crop is not None
        g = g.crop(crop)
        body = np.ascontiguousarray(body[crop])
        rotation = frame_mod.estimate_rotation(g, body)
        rotated: frame_mod.RotatedGrid | None = None
        if rotation.applied:
            rotated = frame_mod.RotatedGrid.build(g, body, rotation.angle_deg)
            g = rotated.grid
            body = segment_body(g)
            warnings.append(
                f"orientation: the body lies rotated {rotation.angle_deg:.0f} degrees in the axial plane; "
                "segmented in its own axes"
            )
        x_mid = float(g.centroid_world(body)[0])
        lap("body")
        thorax = thorax_mod.find_thorax(g, body)
        warnings += [f"thorax: {n}" for n in thorax.notes if "vertebral" not in n]  # the bones say that one
        lap("thorax")
        aw = airway_mod.segment_airway(g, body, x_mid, thorax.spine)
        warnings += [f"airway: {n}" for n in aw.notes]
        lap("airway")
        lungs = lungs_mod.segment_lungs(g, body, aw.mask, x_mid, thorax)
        warnings += [f"lungs: {n}" for n in lungs.notes]
        warnings += [f"lungs: {n}" for n in lungs.rejected]
        if lungs.found:
            masks, fov, bones, lung_info = self._chest(g, body, aw, lungs, thorax, x_mid, warnings, lap)
        else:
            gas = (g.hu < lungs_mod.LUNG_HU) & body & ~aw.mask
            try:
                fov = fov_mod.without_lungs(g, body, aw.mask, gas, thorax)
            except fov_mod.NoThoraxDecision as exc:
                raise SegmentationError(f"{cid}: no lungs found ({exc})") from exc
            masks, bones = self._beside_chest(g, body, aw, thorax, fov, x_mid, warnings, lap)
            lung_info = "none in the field of view"
        warnings += [f"bones: {n}" for n in bones.notes]
        warnings += fov.warnings()
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
        for name in list(info):
            if "lung" in name and "lobe" in name:
                info[name] = StructureInfo(
                    method=f"{info[name].method}; {lung_info}", confidence=info[name].confidence
                )
        found = set(labels.values())
        outside = _outside_members(fov.outside)
        for name in EXPECTED:
            if name not in found and name not in outside:
                warnings.append(f"{name}: expected but not found")
        if lungs.found:
            if not (found & {"left thyroid", "right thyroid"}) and "thyroid" not in fov.outside:
                warnings.append("thyroid: expected but not found")
            if not (found & {"left breast", "right breast"}):
                warnings.append("breast: no tissue protruding in front of the chest wall (absent or male)")
        if "liver" not in found and "liver" not in outside:
            warnings.append("liver: not found (upper abdomen not in the field of view or not separable)")
        if rotated is not None:
            lab = rotated.labels_back(lab)
        lap("assemble")
        lab_work = np.zeros(work_shape, dtype=np.uint8)
        lab_work[crop] = lab
        full = upsample_labels(lab_work, g.factors, g.full_shape)
        lap("upsample")
        if g.factors != (1, 1, 1) or rotated is not None:
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
        settings["patient_frame"] = {
            "right_world": [round(float(v), 4) for v in frame_mod.right_direction_world(g)],
            **rotation.as_settings(),
        }
        settings["field_of_view"] = fov.as_settings()
        settings["airway_threshold_used"] = aw.threshold
        settings["carina_z_mm"] = aw.carina_z
        settings["lung_split"] = lungs.split_method
        settings["lungs_accepted_by"] = lungs.accepted_by
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

    # ------------------------------------------------------------------------------------------------
    def _chest(
        self,
        g: WorkGrid,
        body: np.ndarray,
        aw: airway_mod.Airway,
        lungs: lungs_mod.Lungs,
        thorax: thorax_mod.Thorax,
        x_mid: float,
        warnings: list[str],
        lap: Callable[[str], None],
    ) -> tuple[dict[str, np.ndarray], fov_mod.FieldOfView, bones_mod.Bones, str]:
        """Every structure of a scan that shows the lungs."""
        masks: dict[str, np.ndarray] = {}
        lung_all = lungs.right | lungs.left
        cuts: list[tuple[bool, bool]] = []
        heights: list[tuple[float, float]] = []
        for side, m in (("right", lungs.right), ("left", lungs.left)):
            if not m.any():
                continue
            top, bottom = lungs_mod.cut_ends(g, m, body)
            cuts.append((top, bottom))
            extent, note = lungs_mod.lung_extent(g, m, top, bottom)
            heights.append((extent[2], extent[3]))
            if note:
                warnings.append(f"{side} lung: {note}")
            masks.update(lungs_mod.approximate_lobes(g, m, right=side == "right", extent=extent))
        lap("lungs+lobes")
        lung_z = (min(h[0] for h in heights), max(h[1] for h in heights)) if any(c[0] or c[1] for c in cuts) else None
        bones = bones_mod.segment_bones(g, body, lung_all, x_mid, thorax, lung_z)
        bone_all = np.zeros_like(body)
        for m in bones.masks.values():
            bone_all |= m
        lap("bones")
        # every lung base cut by the bottom of the scan: the diaphragm is not in view, nor the abdomen
        base_seen = not all(c[1] for c in cuts)
        dia = thorax_mod.fit_diaphragm(g, lungs.right, lungs.left, body) if base_seen else None
        abdomen = dia.below if dia is not None else np.zeros_like(body)
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
        margin = _thyroid_margin(g, lung_all, body) if not (med.thyroid_left.any() or med.thyroid_right.any()) else None
        # the trachea is gone when an apex is cut; the abdomen only when every lung base is
        fov = fov_mod.with_lungs(
            g, aw.mask, any(c[0] for c in cuts), all(c[1] for c in cuts), margin, below_carina=aw.below_carina
        )
        return masks, fov, bones, f"left/right split: {lungs.split_method}"

    def _beside_chest(
        self,
        g: WorkGrid,
        body: np.ndarray,
        aw: airway_mod.Airway,
        thorax: thorax_mod.Thorax,
        fov: fov_mod.FieldOfView,
        x_mid: float,
        warnings: list[str],
        lap: Callable[[str], None],
    ) -> tuple[dict[str, np.ndarray], bones_mod.Bones]:
        """The structures of a scan beside the thorax: body, bones, and the abdomen below it or the airway above."""
        empty = np.zeros_like(body)
        bones = bones_mod.segment_bones(g, body, empty, x_mid, thorax)
        bone_all = np.zeros_like(body)
        for m in bones.masks.values():
            bone_all |= m
        lap("bones")
        masks: dict[str, np.ndarray] = {"body": body, **bones.masks}
        if fov.kind == "below the thorax":
            abdomen = body & ~bone_all
            masks["abdominal tissue"] = abdomen
            masks["liver"] = soft_mod.segment_liver(g, abdomen, body, empty, x_mid)
        else:
            masks["trachea"] = aw.trachea
            masks["bronchie"] = aw.bronchi
        lap("abdomen+breast+pleura")
        return masks, bones
def _thyroid_margin(g: WorkGrid, lungs: np.ndarray, body: np.ndarray) -> float:
    """How far (mm) the scan reaches above the lung apex."""
    z = g.axis_world(2)[0, 0, :]
    lz = z[lungs.any(axis=(0, 1))]
    bz = z[body.any(axis=(0, 1))]
    return float(bz.max() - lz.max()) if len(lz) and len(bz) else 0.0


def _outside_members(outside: dict[str, str]) -> set[str]:
    """Every structure name inside the regions declared outside the field of view."""
    out: set[str] = set()
    for node in outside:
        try:
            out |= set(resolve(node)[1])
        except (NotAMaskError, UnknownNodeError):
            out.add(node)
    return out

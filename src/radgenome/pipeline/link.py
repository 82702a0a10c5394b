"""Node ↔ mask linking and text↔mask consistency flags, from a §1.2 sidecar (labels + per-structure stats).

Every node a sentence or finding is grounded to (and every top-level region it expands to) gets a
:class:`~radgenome.model.MaskLink`. The node's mask is the union over the region hierarchy of the
label map's structures (:func:`radgenome.regions.resolve`); its status is decided in this order:

1. ``ok`` — the union holds at least one voxel;
2. ``no_structure`` — ``others``, a node unknown to the mask vocabulary, or no structure of the union is
   one the backend segments (its vocabulary: :func:`backend_vocabulary`, else the label map's label table) —
   for this scan: finer structures the backend says it did not make here (a ``"<node>: not subdivided in this
   case (...)"`` warning, e.g. vertebral levels without a level anchor in view) do not count;
3. ``outside_fov`` — the backend segments the node but it lies where this scan does not reach (rule below);
4. ``empty`` — the backend segments the node's structures, the scan covers it, and no voxel was found.

**Field-of-view rule.** The lungs are the anchor. With ``z`` the world superior coordinate (RAS mm), let
``[lung_lo, lung_hi]`` be the lungs' extent and ``[body_lo, body_hi]`` the body's (the ``body`` structure, else
every labelled structure). A node below the diaphragm (see :data:`BELOW_LUNG_BASE`) needs the scan to reach
``d`` mm below the lung bases: it is outside the field of view when ``body_lo > lung_lo - d`` (kidneys need
60 mm, the liver 15 mm...). A node above the lung apices (:data:`ABOVE_LUNG_APEX`) is outside when
``body_hi < lung_hi + d``. A node inherits the largest distance among its listed ancestors (``left kidney`` →
``kidney``) unless it also belongs to another top-level region (the aorta is under ``abdomen`` and in the
mediastinum: no rule). Without lungs in the label map nothing is judged outside by this rule. The backend may also
say so itself: a sidecar warning ``"<region>: outside the field of view (...)"``
(:func:`radgenome.segmentation.base.outside_fov_warning`, e.g. ``lung`` on an abdominal CT) makes every node
whose segmentable structures all lie in that region ``outside_fov``. Both only explain a missing mask: a node
whose union has voxels is always ``ok``.

Flags (:class:`~radgenome.model.CaseFlag`):

- ``empty_mask``: a sentence grounded to a node whose status is ``empty``;
- ``laterality_conflict``: a sentence grounded to a left/right node whose own mask is missing while its
  counterpart's is present; or (case level) a left/right pair whose centroids contradict the affine (the
  ``left`` structure lies to the patient's right of the ``right`` one in world RAS);
- ``size_exceeds_mask``: a present finding whose measured size exceeds the largest extent of its node's mask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radgenome.anatomy import UnknownNodeError, load_hierarchy
from radgenome.model import CaseFlag, MaskLink, MaskStatus, Polarity, ReportAnalysis
from radgenome.regions import NotAMaskError, resolve
from radgenome.segmentation.base import not_subdivided_nodes, outside_fov_nodes

BELOW_LUNG_BASE: dict[str, float] = {
    "abdomen": 10.0,
    "abdominal tissue": 10.0,
    "liver": 15.0,
    "stomach": 15.0,
    "spleen": 20.0,
    "adrenal gland": 40.0,
    "celiac trunk": 40.0,
    "portal vein and splenic vein": 40.0,
    "gallbladder": 50.0,
    "pancreas": 50.0,
    "duodenum": 60.0,
    "kidney": 60.0,
    "renal artery": 70.0,
    "renal vein": 70.0,
    "small bowel": 80.0,
    "intestine": 80.0,
    "colon": 80.0,
    "iliac artery": 200.0,
    "iliac vena": 200.0,
    "rectum": 250.0,
    "urinary bladder": 250.0,
    "prostate": 250.0,
}
"""Millimetres a scan must reach below the lowest lung voxel for the node to be in the field of view."""

ABOVE_LUNG_APEX: dict[str, float] = {
    "thyroid": 10.0,
    "cervical esophagus": 10.0,
    "cricopharyngeal inlet": 30.0,
    "larynx": 40.0,
    "buccal mucosa": 90.0,
    "eustachian tube bone": 110.0,
}
"""Millimetres a scan must reach above the highest lung voxel for the node to be in the field of view."""

LEFT_RIGHT_PAIRS: tuple[tuple[str, str], ...] = (
    ("left lung", "right lung"),
    ("left kidney", "right kidney"),
    ("left adrenal gland", "right adrenal gland"),
    ("left thyroid", "right thyroid"),
    ("left breast", "right breast"),
    ("left clavicle", "right clavicle"),
    ("left scapula", "right scapula"),
)


@dataclass
class LabelInfo:
    """What linking needs from a §1.2 output: per-structure voxels, world z range, world box and centroid."""

    voxels: dict[str, int]
    vocabulary: frozenset[str] = frozenset()
    """Structures the backend can produce (those of the label table are always included)."""
    z_range: dict[str, tuple[float, float]] = field(default_factory=dict)
    box_mm: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    centroid_mm: dict[str, np.ndarray] = field(default_factory=dict)
    outside: frozenset[str] = frozenset()
    """Regions the backend declared outside the field of view (its ``outside the field of view`` warnings)."""
    unsplit: frozenset[str] = frozenset()
    """Nodes whose finer structures the backend did not make for this scan (its ``not subdivided`` warnings)."""

    @classmethod
    def from_sidecar(cls, sidecar: dict[str, Any]) -> LabelInfo:
        affine = np.asarray(sidecar.get("affine", np.eye(4).tolist()), dtype=np.float64)
        voxels: dict[str, int] = {}
        names = list(sidecar.get("labels", {}).values())
        vocab = backend_vocabulary(str(sidecar.get("backend", "")))
        outside = frozenset(outside_fov_nodes(sidecar.get("warnings", []) or []))
        unsplit = frozenset(not_subdivided_nodes(sidecar.get("warnings", []) or []))
        info = cls(voxels, frozenset(names) | (vocab or frozenset()), outside=outside, unsplit=unsplit)
        stats: dict[str, Any] = sidecar.get("stats", {})
        for name in names:
            s = stats.get(name, {})
            n = int(s.get("voxels", 0))
            voxels[name] = n
            if n <= 0 or len(s.get("bbox_ijk", [])) != 6:
                continue
            b = s["bbox_ijk"]
            lo_i, hi_i = np.asarray(b[:3], float) - 0.5, np.asarray(b[3:], float) + 0.5
            corners = np.array([[x, y, z, 1.0] for x in (lo_i[0], hi_i[0]) for y in (lo_i[1], hi_i[1])
                                for z in (lo_i[2], hi_i[2])])
            world = (affine @ corners.T).T[:, :3]
            info.box_mm[name] = (world.min(axis=0), world.max(axis=0))
            info.z_range[name] = (float(world[:, 2].min()), float(world[:, 2].max()))
            if len(s.get("centroid_mm", [])) == 3:
                info.centroid_mm[name] = np.asarray(s["centroid_mm"], dtype=np.float64)
        return info

    def union_z(self, names: Iterable[str]) -> tuple[float, float] | None:
        zs = [self.z_range[n] for n in names if n in self.z_range]
        if not zs:
            return None
        return min(z[0] for z in zs), max(z[1] for z in zs)

    def union_extent_mm(self, names: Iterable[str]) -> float:
        boxes = [self.box_mm[n] for n in names if n in self.box_mm]
        if not boxes:
            return 0.0
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        return float(np.max(hi - lo))

    def union_centroid(self, names: Iterable[str]) -> np.ndarray | None:
        pts = [(self.centroid_mm[n], self.voxels[n]) for n in names if n in self.centroid_mm and self.voxels[n] > 0]
        if not pts:
            return None
        w = np.array([p[1] for p in pts], dtype=np.float64)
        return np.average(np.array([p[0] for p in pts]), axis=0, weights=w)


def backend_vocabulary(backend: str) -> frozenset[str] | None:
    """Every structure name a backend can write (None when it depends on the input, e.g. precomputed)."""
    if backend == "classical":
        from radgenome.segmentation.classical.segmenter import STRUCTURES

        return frozenset(s[0] for s in STRUCTURES)
    if backend == "totalsegmentator":
        from radgenome.segmentation.precomputed import totalseg_name_map

        return frozenset(totalseg_name_map().values())
    return None


def _members(node: str) -> frozenset[str] | None:
    """Structure names making the node's mask; None when the node has no mask at all."""
    try:
        return resolve(node)[1]
    except (NotAMaskError, UnknownNodeError):
        return None


def _fov_rule(node: str) -> tuple[str, float] | None:
    """("below", d) / ("above", d) from the node or its nearest listed ancestor."""
    h = load_hierarchy()
    for table, side in ((BELOW_LUNG_BASE, "below"), (ABOVE_LUNG_APEX, "above")):
        if node in table:
            return side, table[node]
    if node not in h:
        return None
    best: tuple[str, float] | None = None
    regions = set(h.top_regions(node)) - {"others"}
    for anc in sorted(h.ancestors(node)):
        if anc in h and not regions <= set(h.top_regions(anc)):
            continue  # e.g. the aorta is under abdomen but also in the mediastinum: no abdominal rule
        for table, side in ((BELOW_LUNG_BASE, "below"), (ABOVE_LUNG_APEX, "above")):
            if anc in table and (best is None or table[anc] > best[1]):
                best = (side, table[anc])
    return best


class Linker:
    """Decides mask statuses for one label map (``info`` None: a text-only case)."""

    def __init__(self, info: LabelInfo | None) -> None:
        self.info = info
        self._cache: dict[str, MaskLink] = {}
        self.lung_z: tuple[float, float] | None = None
        self.body_z: tuple[float, float] | None = None
        self.declared: frozenset[str] = frozenset()
        """Structure names inside the regions the backend declared outside the field of view."""
        self.unmade: frozenset[str] = frozenset()
        """Structure names the backend did not make for this scan (finer structures of a node it declared not
        subdivided, e.g. the levels of unnumbered ``vertebrae``) and that are absent from the label map."""
        if info is not None:
            lung = _members("lung") or frozenset()
            self.lung_z = info.union_z(lung)
            self.body_z = info.union_z(["body"]) or info.union_z(info.z_range)
            self.declared = frozenset().union(*[_members(n) or frozenset({n}) for n in info.outside])
            present = frozenset(n for n, v in info.voxels.items() if v > 0)
            self.unmade = frozenset().union(*[_members(n) or frozenset({n}) for n in info.unsplit]) - present

    def outside_fov(self, node: str) -> bool:
        if self.lung_z is None or self.body_z is None:
            return False
        rule = _fov_rule(node)
        if rule is None:
            return False
        side, d = rule
        if side == "below":
            return self.body_z[0] > self.lung_z[0] - d
        return self.body_z[1] < self.lung_z[1] + d

    def link(self, node: str) -> MaskLink:
        if node in self._cache:
            return self._cache[node]
        self._cache[node] = out = self._link(node)
        return out

    def _link(self, node: str) -> MaskLink:
        if self.info is None:
            return MaskLink(node=node, status="not_segmented")
        members = _members(node)
        if members is None:
            return MaskLink(node=node, status="no_structure")
        present = sorted(n for n, v in self.info.voxels.items() if v > 0 and n in members)
        if present:
            return MaskLink(node=node, status="ok", voxels=sum(self.info.voxels[n] for n in present),
                            structures=present)
        segmentable = sorted((members & self.info.vocabulary) - self.unmade)
        status: MaskStatus
        if not segmentable:
            status = "no_structure"
        elif set(segmentable) <= self.declared or self.outside_fov(node):
            status = "outside_fov"
        else:
            status = "empty"
        return MaskLink(node=node, status=status, structures=segmentable)


def grounded_nodes(analysis: ReportAnalysis) -> list[str]:
    """Every node a sentence or finding is grounded to, plus the top-level regions they expand to (sorted)."""
    h = load_hierarchy()
    nodes: set[str] = set()
    for s in analysis.sentences:
        nodes.update(s.nodes)
        for f in s.findings:
            nodes.update(f.nodes)
    for n in list(nodes):
        if n in h:
            nodes.update(h.top_regions(n))
    return sorted(nodes)


def _counterpart(node: str) -> str | None:
    for a, b in (("left", "right"), ("right", "left")):
        if node.startswith(f"{a} ") or f" {a} " in f" {node} ":
            other = f" {node} ".replace(f" {a} ", f" {b} ").strip()
            if other in load_hierarchy() or _members(other) is not None:
                return other
    return None


def link_case(analysis: ReportAnalysis, info: LabelInfo | None) -> tuple[dict[str, MaskLink], list[CaseFlag]]:
    """(node -> MaskLink for every grounded node, consistency flags) of one case."""
    linker = Linker(info)
    node_masks = {n: linker.link(n) for n in grounded_nodes(analysis)}
    flags: list[CaseFlag] = []
    if info is None:
        return node_masks, flags
    for s in analysis.sentences:
        for node in s.nodes:
            link = node_masks[node]
            if link.status == "empty":
                flags.append(CaseFlag(kind="empty_mask", sentence_index=s.index, node=node,
                                      detail=f"sentence about {node!r} but its mask is empty"))
            other = _counterpart(node)
            if other is None or link.status != "empty":
                continue
            if linker.link(other).status == "ok":
                flags.append(CaseFlag(
                    kind="laterality_conflict", sentence_index=s.index, node=node,
                    detail=f"text says {node!r}: its mask is empty while {other!r} is present",
                ))
        for f in s.findings:
            sizes = [m.largest_mm for m in f.measured if m.largest_mm is not None]  # no bounds, no earlier sizes
            if f.polarity != Polarity.PRESENT or not sizes:
                continue
            size = max(sizes)
            for node in f.nodes:
                link = node_masks.get(node)
                if link is None or link.status != "ok":
                    continue
                extent = info.union_extent_mm(link.structures)
                if extent > 0 and size > extent:
                    flags.append(CaseFlag(
                        kind="size_exceeds_mask", sentence_index=s.index, node=node,
                        detail=f"{f.phrase!r} measures {size:g} mm; the {node} mask spans {extent:.0f} mm",
                    ))
    flags.extend(_affine_laterality(info))
    return node_masks, flags


def _affine_laterality(info: LabelInfo) -> list[CaseFlag]:
    """Left/right pairs whose world centroids contradict RAS (+x is the patient's right)."""
    out: list[CaseFlag] = []
    for left, right in LEFT_RIGHT_PAIRS:
        lm, rm = _members(left), _members(right)
        if lm is None or rm is None:
            continue
        cl = info.union_centroid(n for n in info.voxels if n in lm)
        cr = info.union_centroid(n for n in info.voxels if n in rm)
        if cl is None or cr is None:
            continue
        if cl[0] > cr[0]:
            out.append(CaseFlag(
                kind="laterality_conflict", node=left,
                detail=f"{left} centroid x={cl[0]:.0f} mm lies right of {right} x={cr[0]:.0f} mm (RAS): "
                       "the label map's sides contradict the affine",
            ))
    return out

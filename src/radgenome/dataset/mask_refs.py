"""Mask references for any hierarchy node of a case: the pipeline's link when it made one, else the sidecar.

The pipeline links every node a sentence or finding is grounded to (``CaseRecord.node_masks``). Dataset rows also
refer to ancestor regions (``lung/lung/left lung`` for a sentence on a lobe), whose status is derived from the
label map's sidecar statistics (voxels per structure, §1.2) without reading the label map itself. The sidecar is
read once per case (:func:`read_case_sidecar`) and shared by everything finalising that case.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from radgenome.anatomy import UnknownNodeError, load_hierarchy
from radgenome.dataset.records import MaskReference
from radgenome.model import CaseRecord, OutputLayout
from radgenome.regions import NotAMaskError, resolve
from radgenome.segmentation.io import sidecar_path


def read_case_sidecar(layout: OutputLayout, rec: CaseRecord) -> dict[str, Any] | None:
    """The sidecar of the case's label map; None when the case has no label map or the sidecar is unreadable."""
    if rec.masks.labelmap is None:
        return None
    side = rec.masks.sidecar
    path = layout.root / side if side else sidecar_path(layout.root / rec.masks.labelmap)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sidecar_voxels(sidecar: Mapping[str, Any]) -> dict[str, int]:
    """Structure name -> voxels, for every labelled structure of a sidecar."""
    stats = sidecar.get("stats", {})
    return {str(name): int(stats.get(str(name), {}).get("voxels", 0)) for name in sidecar.get("labels", {}).values()}


class MaskResolver:
    """Mask references of one case's nodes (cached); ``sidecar`` None: the case has none, or it is unreadable."""

    def __init__(self, rec: CaseRecord, sidecar: Mapping[str, Any] | None) -> None:
        self.rec = rec
        self.labelmap = rec.masks.labelmap
        self._cache: dict[str, MaskReference] = {}
        self._voxels = sidecar_voxels(sidecar) if sidecar is not None and self.labelmap is not None else None

    def ref(self, node: str) -> MaskReference:
        cached = self._cache.get(node)
        if cached is None:
            cached = self._cache[node] = self._resolve(node)
        return cached

    def _resolve(self, node: str) -> MaskReference:
        if self.labelmap is None:
            return MaskReference(node=node, status="not_segmented")
        link = self.rec.node_masks.get(node)
        if link is not None:
            status = link.status
            return MaskReference(
                node=node,
                status=status,
                labelmap=self.labelmap if status == "ok" else None,
                voxels=link.voxels,
                structures=list(link.structures),
            )
        try:
            _, members = resolve(node)
        except (NotAMaskError, UnknownNodeError):
            return MaskReference(node=node, status="no_structure")
        voxels = self._voxels
        if voxels is None:
            return self._from_descendant_links(node)
        present = sorted(name for name in voxels if name in members)
        total = sum(voxels[name] for name in present)
        if not present:
            return MaskReference(node=node, status="no_structure")
        if total > 0:
            return MaskReference(node=node, status="ok", labelmap=self.labelmap, voxels=total, structures=present)
        status = "outside_fov" if self._descendant_statuses(node) == {"outside_fov"} else "empty"
        return MaskReference(node=node, status=status, structures=present)

    def _descendant_statuses(self, node: str) -> set[str]:
        h = load_hierarchy()
        below = h.descendants(node) if node in h else frozenset()
        return {link.status for n, link in self.rec.node_masks.items() if n in below}

    def _from_descendant_links(self, node: str) -> MaskReference:
        """No sidecar: a union is ok when a linked descendant is ok (voxels summed over the linked ones)."""
        h = load_hierarchy()
        below = h.descendants(node) if node in h else frozenset()
        links = [link for n, link in sorted(self.rec.node_masks.items()) if n in below]
        ok = [link for link in links if link.status == "ok"]
        if ok:
            structures = sorted({s for link in ok for s in link.structures})
            voxels = sum(link.voxels for link in ok)
            return MaskReference(node=node, status="ok", labelmap=self.labelmap, voxels=voxels, structures=structures)
        statuses = {link.status for link in links}
        status = "outside_fov" if statuses == {"outside_fov"} else ("empty" if "empty" in statuses else "no_structure")
        return MaskReference(node=node, status=status)

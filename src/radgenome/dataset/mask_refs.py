"""Mask references for any hierarchy node of a case: the pipeline's link when it made one, else the sidecar.

The pipeline links every node a sentence or finding is grounded to (``CaseRecord.node_masks``). Dataset rows also
refer to ancestor regions (``lung/lung/left lung`` for a sentence on a lobe), whose status is derived from the
label map's sidecar statistics (voxels per structure, §1.2) without reading the label map itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from radgenome.anatomy import UnknownNodeError, load_hierarchy
from radgenome.dataset.records import MaskReference
from radgenome.pipeline.record import CaseRecord
from radgenome.regions import NotAMaskError, resolve
from radgenome.segment.io import sidecar_path


def resolve_path(out: Path, path: str) -> Path:
    """A path stored in a record: absolute as is; relative to OUT when it exists there, else to the cwd."""
    p = Path(path)
    if p.is_absolute():
        return p
    under_out = Path(out) / p
    return under_out if under_out.exists() else p


class MaskResolver:
    """Mask references of one case's nodes (cached)."""

    def __init__(self, out: Path, rec: CaseRecord) -> None:
        self.out = Path(out)
        self.rec = rec
        self.labelmap = rec.masks.labelmap
        self._cache: dict[str, MaskReference] = {}
        self._voxels: dict[str, int] | None = None

    def _sidecar_voxels(self) -> dict[str, int] | None:
        """Structure name -> voxels from the sidecar JSON (None when there is no readable sidecar)."""
        if self._voxels is not None or self.labelmap is None:
            return self._voxels
        side = self.rec.masks.sidecar
        path = self.out / side if side else sidecar_path(self.out / self.labelmap)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        stats = data.get("stats", {})
        self._voxels = {
            str(name): int(stats.get(str(name), {}).get("voxels", 0)) for name in data.get("labels", {}).values()
        }
        return self._voxels

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
        voxels = self._sidecar_voxels()
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

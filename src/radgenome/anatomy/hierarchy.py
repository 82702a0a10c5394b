"""RadGenome's region hierarchy as a DAG, rendered to RadGenome paths.

The hierarchy is data (``data/hierarchy.json``). A *node* is an anatomical structure name (RadGenome's mask
vocabulary, plus a few documented extras such as ``pleura``); a *region* is one of the 11 top-level regions.
A node may have several parents (``left lung lower lobe`` sits under ``left lung`` and ``lung lower lobe``;
``aorta`` under ``mediastinum`` and ``abdomen``), so it can have several RadGenome paths.

This module imports nothing else of radgenome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

TOP_LEVEL_REGIONS: tuple[str, ...] = (
    "lung",
    "trachea and bronchie",
    "pleura",
    "mediastinum",
    "heart",
    "esophagus",
    "thyroid",
    "breast",
    "abdomen",
    "bone",
    "others",
)
"""RadGenome's 11 top-level regions, ``others`` last (it collects what the other ten do not)."""

ANATOMICAL_REGIONS: tuple[str, ...] = TOP_LEVEL_REGIONS[:-1]
"""The 10 top-level regions that have a mask (``others`` is a catch-all)."""


class UnknownNodeError(KeyError):
    """A node name or path that the hierarchy does not contain."""


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """The region DAG. Build it with :func:`load_hierarchy`."""

    regions: dict[str, tuple[str, ...]]
    children: dict[str, tuple[str, ...]]
    extra_nodes: dict[str, str]
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    region_of_root: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # ------------------------------------------------------------------ structure
    @property
    def nodes(self) -> frozenset[str]:
        return _all_nodes(self)

    def __contains__(self, node: object) -> bool:
        return node in self.nodes

    def check(self, node: str) -> str:
        if node not in self.nodes:
            raise UnknownNodeError(f"unknown anatomical node {node!r}")
        return node

    def descendants(self, node: str) -> frozenset[str]:
        """All nodes below ``node`` (not including it)."""
        return _descendants(self, self.check(node))

    def leaves(self, node: str) -> frozenset[str]:
        """The finest nodes under ``node`` (``node`` itself when it has no children)."""
        below = self.descendants(node) | {node}
        return frozenset(n for n in below if not self.children.get(n))

    def ancestors(self, node: str) -> frozenset[str]:
        """All nodes above ``node`` in any path (not including it, no top-level region names)."""
        return _ancestors(self, self.check(node))

    def top_regions(self, node: str) -> tuple[str, ...]:
        """The top-level region(s) a node belongs to, in :data:`TOP_LEVEL_REGIONS` order."""
        found: set[str] = set()
        for n in {node} | self.ancestors(node):
            found.update(self.region_of_root.get(n, ()))
        return tuple(r for r in TOP_LEVEL_REGIONS if r in found)

    # ------------------------------------------------------------------ paths
    def paths(self, node: str) -> tuple[str, ...]:
        """Every RadGenome path that ends at ``node`` (``lung/lung/left lung``), sorted."""
        if node in TOP_LEVEL_REGIONS and node not in self.nodes:
            return (node,)
        return _paths(self, self.check(node))

    def expand_paths(self, nodes: Iterable[str]) -> tuple[str, ...]:
        """Paths of ``nodes`` and of every ancestor, plus their top-level region names (RadGenome's expansion).

        ``others`` nodes expand to ``others`` and ``others/<node>``.
        """
        return _expand_paths(self, tuple(nodes))

    def _expand_uncached(self, nodes: tuple[str, ...]) -> tuple[str, ...]:
        out: set[str] = set()
        for node in nodes:
            if node in TOP_LEVEL_REGIONS and node not in self.nodes:
                out.add(node)
                continue
            for path in self.paths(node):
                parts = path.split("/")
                for i in range(1, len(parts) + 1):
                    out.add("/".join(parts[:i]))
        return tuple(sorted(out, key=path_sort_key))

    def node_of_path(self, path: str) -> str:
        """The node a RadGenome path ends at, or the region name for a bare top-level path."""
        parts = path.split("/")
        if len(parts) == 1 and parts[0] in TOP_LEVEL_REGIONS:
            return parts[0]
        node = parts[-1]
        if path not in self.paths(node):
            raise UnknownNodeError(f"{path!r} is not a path of the region hierarchy")
        return node

    def all_paths(self) -> tuple[str, ...]:
        out: set[str] = set(TOP_LEVEL_REGIONS)
        for node in self.nodes:
            out.update(self.paths(node))
        return tuple(sorted(out, key=path_sort_key))


_REGION_RANK = {region: i for i, region in enumerate(TOP_LEVEL_REGIONS)}


@lru_cache(maxsize=4096)
def path_sort_key(path: str) -> tuple[int, str]:
    """Sort paths by top-level region order, then lexically (parents before children)."""
    return (_REGION_RANK.get(path.split("/", 1)[0], len(TOP_LEVEL_REGIONS)), path)


@lru_cache(maxsize=65536)
def _expand_paths(h: Hierarchy, nodes: tuple[str, ...]) -> tuple[str, ...]:
    return h._expand_uncached(nodes)


@cache
def _all_nodes(h: Hierarchy) -> frozenset[str]:
    nodes: set[str] = set()
    for roots in h.regions.values():
        nodes.update(roots)
    for parent, kids in h.children.items():
        nodes.add(parent)
        nodes.update(kids)
    return frozenset(nodes)


@cache
def _descendants(h: Hierarchy, node: str) -> frozenset[str]:
    out: set[str] = set()
    for child in h.children.get(node, ()):
        out.add(child)
        out.update(_descendants(h, child))
    return frozenset(out)


@cache
def _ancestors(h: Hierarchy, node: str) -> frozenset[str]:
    out: set[str] = set()
    for parent in h.parents.get(node, ()):
        out.add(parent)
        out.update(_ancestors(h, parent))
    return frozenset(out)


@cache
def _paths(h: Hierarchy, node: str) -> tuple[str, ...]:
    out: set[str] = set()
    for region in h.region_of_root.get(node, ()):
        out.add(f"{region}/{node}")
    for parent in h.parents.get(node, ()):
        for p in _paths(h, parent):
            out.add(f"{p}/{node}")
    return tuple(sorted(out))


def _freeze(mapping: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in mapping.items()}


def build_hierarchy(
    regions: dict[str, list[str]], children: dict[str, list[str]], extra_nodes: dict[str, str] | None = None
) -> Hierarchy:
    """Build and validate a hierarchy (unknown regions, cycles and duplicate children are errors)."""
    unknown = set(regions) - set(TOP_LEVEL_REGIONS)
    if unknown:
        raise ValueError(f"unknown top-level regions: {sorted(unknown)}")
    parents: dict[str, list[str]] = {}
    for parent, kids in children.items():
        if len(set(kids)) != len(kids):
            raise ValueError(f"duplicate children under {parent!r}")
        for kid in kids:
            parents.setdefault(kid, []).append(parent)
    region_of_root: dict[str, list[str]] = {}
    for region, roots in regions.items():
        for root in roots:
            region_of_root.setdefault(root, []).append(region)
    h = Hierarchy(
        regions=_freeze(regions),
        children=_freeze(children),
        extra_nodes=dict(extra_nodes or {}),
        parents=_freeze(parents),
        region_of_root=_freeze(region_of_root),
    )
    # cycle check: a node may not be its own ancestor
    for node in h.nodes:
        stack, seen = [node], set()
        while stack:
            cur = stack.pop()
            for p in h.parents.get(cur, ()):
                if p == node:
                    raise ValueError(f"cycle in region hierarchy at {node!r}")
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        if not h.region_of_root.get(node) and not h.parents.get(node):
            raise ValueError(f"node {node!r} is not reachable from any top-level region")
    return h


@cache
def load_hierarchy() -> Hierarchy:
    """The packaged RadGenome hierarchy (cached)."""
    raw = json.loads(resources.files("radgenome.anatomy").joinpath("data/hierarchy.json").read_text("utf-8"))
    return build_hierarchy(raw["regions"], raw["children"], raw.get("extra_nodes", {}))

"""Which RadGenome path(s) a node takes in a given sentence (data: ``data/path_qualifiers.toml``).

A node whose parents all lie under one top-level region keeps every path (``left lung lower lobe`` is written
under ``lung/lung/left lung`` and ``lung/lung/lung lower lobe``). A node with parents under two top-level regions
(``aorta``: mediastinum and abdomen) takes the region(s) its qualifier names in the sentence — "thoracic",
"ascending", "arch", "descending thoracic" aorta -> mediastinum; "abdominal aorta" -> abdomen; both named -> both;
none -> the node's default (mediastinum for a chest CT's aorta). The text engine records the choice on each
sentence (``Sentence.node_paths``), and the dataset writers and the review app read it from there.

This module imports nothing of radgenome above :mod:`radgenome.anatomy`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from radgenome.anatomy.hierarchy import TOP_LEVEL_REGIONS, Hierarchy, load_hierarchy, path_sort_key

__all__ = [
    "Qualifier",
    "build_qualifiers",
    "choose_paths",
    "expand_chosen",
    "load_qualifiers",
    "multi_region_nodes",
    "paths_of",
    "resolve_paths",
    "sentence_paths",
]


@dataclass(frozen=True)
class Qualifier:
    """How one multi-region node picks its region(s)."""

    node: str
    default: tuple[str, ...]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    """(region, pattern) pairs: a match in the sentence names that region."""

    def regions(self, low: str) -> tuple[str, ...]:
        named = tuple(region for region, pattern in self.patterns if pattern.search(low))
        return named or self.default


def multi_region_nodes(h: Hierarchy) -> dict[str, tuple[str, ...]]:
    """Nodes whose paths start in more than one top-level region, with those regions."""
    out: dict[str, tuple[str, ...]] = {}
    for node in sorted(h.nodes):
        regions = tuple(dict.fromkeys(p.split("/", 1)[0] for p in h.paths(node)))
        if len(regions) > 1:
            out[node] = regions
    return out


def build_qualifiers(raw: dict[str, object], h: Hierarchy) -> dict[str, Qualifier]:
    """Validate the qualifier data against the hierarchy (a missing or inconsistent entry is an error)."""
    multi = multi_region_nodes(h)
    out: dict[str, Qualifier] = {}
    for item in raw.get("node", []):  # type: ignore[union-attr]
        name = str(item["name"])
        if name not in multi:
            raise ValueError(f"path_qualifiers: {name!r} is not a node with parents under two top-level regions")
        regions = dict(item.get("regions", {}))
        default = tuple(item["default"])
        for region in (*regions, *default):
            if region not in multi[name]:
                raise ValueError(f"path_qualifiers: {name!r} has no path under {region!r} (it has {multi[name]})")
        out[name] = Qualifier(name, default, tuple((r, re.compile(p)) for r, p in regions.items()))
    missing = sorted(set(multi) - set(out))
    if missing:
        raise ValueError(f"path_qualifiers: no entry for the multi-region node(s) {missing}")
    return out


@cache
def load_qualifiers() -> dict[str, Qualifier]:
    raw = tomllib.loads(resources.files("radgenome.anatomy").joinpath("data/path_qualifiers.toml").read_text("utf-8"))
    return build_qualifiers(raw, load_hierarchy())


def _paths(h: Hierarchy, node: str) -> tuple[str, ...]:
    if node in TOP_LEVEL_REGIONS and node not in h:
        return (node,)
    return h.paths(node)


@lru_cache(maxsize=65536)
def choose_paths(node: str, text: str) -> tuple[str, ...]:
    """The RadGenome paths of ``node`` in a sentence ``text`` (all of them unless the node is multi-region)."""
    h = load_hierarchy()
    paths = _paths(h, node)
    qual = load_qualifiers().get(node)
    if qual is None:
        return paths
    regions = set(qual.regions(text.lower()))
    return tuple(sorted((p for p in paths if p.split("/", 1)[0] in regions), key=path_sort_key))


def sentence_paths(nodes: Iterable[str], text: str) -> tuple[str, ...]:
    """The chosen paths of every node of a sentence, in node order (an unknown node raises
    :class:`~radgenome.anatomy.UnknownNodeError`)."""
    nodes = tuple(nodes)
    qualified = load_qualifiers()
    # the text matters only for a multi-region node: cache on the nodes alone otherwise
    return _sentence_paths(nodes, text if any(n in qualified for n in nodes) else "")


@lru_cache(maxsize=65536)
def _sentence_paths(nodes: tuple[str, ...], text: str) -> tuple[str, ...]:
    out: list[str] = []
    for node in nodes:
        out.extend(choose_paths(node, text))
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=65536)
def resolve_paths(nodes: tuple[str, ...], recorded: tuple[str, ...], text: str) -> tuple[str, ...]:
    """The paths of ``nodes`` in node order: each node's ``recorded`` paths, else its choice in ``text`` (a node
    that the recorded paths do not cover, e.g. one a reviewer changed)."""
    if not recorded:
        return sentence_paths(nodes, text)
    out: list[str] = []
    for node in nodes:
        out.extend(paths_of(node, recorded, text))
    return tuple(dict.fromkeys(out))


def paths_of(node: str, chosen: Iterable[str], text: str = "") -> tuple[str, ...]:
    """The paths of ``chosen`` that end at ``node``; when none does, the choice for ``node`` in ``text``."""
    mine = tuple(p for p in chosen if p == node or p.endswith("/" + node))
    if mine:
        return mine
    return choose_paths(node, text if node in load_qualifiers() else "")


@lru_cache(maxsize=65536)
def _expand(paths: tuple[str, ...]) -> tuple[str, ...]:
    out: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return tuple(sorted(out, key=path_sort_key))


def expand_chosen(paths: Iterable[str]) -> tuple[str, ...]:
    """``paths`` and every ancestor path (RadGenome's expansion), in hierarchy order."""
    return _expand(tuple(paths))

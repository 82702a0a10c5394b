"""Where a mention is, against where a released row puts it (RadGenome paths over the region DAG).

- :func:`at_path` — the mention's node is the row's node or below it (``left lung`` backs ``lung/lung``; an
  organ backs its catch-all tissue child, ``heart`` backs ``heart/heart/heart tissue``);
- :func:`covers` — a negation reaches the row's node: at or above it, or both sides of it ("no nodule in
  either lung" covers ``lung``);
- :func:`compatible` — same top-level region, no side against the row's side;
- :func:`side_conflict` — the report puts it in the row's region, but only on the other side.

``blocked`` is a sentence's (node, region) pairs that do not count (``aorta`` under ``abdomen`` when the
sentence is about the thoracic aorta).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from radgenome.audit import engine
from radgenome.audit.vocab import rules_data

Blocked = frozenset[tuple[str, str]]
NONE: Blocked = frozenset()


def _with_tissue(nodes: tuple[str, ...]) -> tuple[str, ...]:
    tissue = rules_data().organ_tissue
    return nodes + tuple(tissue[n] for n in nodes if n in tissue)


def at_path(nodes: Iterable[str], path: str, blocked: Blocked = NONE) -> bool:
    """The mention is at the row's node or below it."""
    nodes = tuple(nodes)
    tissue = rules_data().organ_tissue
    extra = {tissue[n]: n for n in nodes if n in tissue}
    # a tissue child inherits its organ's blocked regions
    blocked = blocked | {(child, r) for child, organ in extra.items() for n, r in blocked if n == organ}
    return path in engine.allowed_paths(_with_tissue(nodes), blocked)


@lru_cache(maxsize=65536)
def _node_paths(node: str, blocked: Blocked) -> frozenset[str]:
    """Every path at which ``node`` itself sits (a bare region name for a region node)."""
    expanded = engine.allowed_paths((node,), blocked)
    return frozenset(p for p in expanded if p.rsplit("/", 1)[-1] == node or p == node)


def _above_or_at(node: str, path: str, blocked: Blocked) -> bool:
    region = engine.region_of_path(path)
    for p in _node_paths(node, blocked):
        if path == p or path.startswith(p + "/"):
            return True
        # a region-root node (``lung``, ``mediastinal tissue``) stands for its bare region path
        if "/" not in path and p.count("/") == 1 and p.split("/", 1)[0] == region:
            return True
    return False


def covers(nodes: Iterable[str], path: str, blocked: Blocked = NONE) -> bool:
    nodes = tuple(nodes)
    if any(_above_or_at(n, path, blocked) for n in nodes):
        return True
    if engine.path_side(path) is None:
        finer = [n for n in nodes if at_path((n,), path, blocked)]
        sides = {engine.node_side(n) for n in finer}
        if {"left", "right"} <= sides:
            return True
    return False


def _sides_agree(node: str, path: str) -> bool:
    a, b = engine.node_side(node), engine.path_side(path)
    return a is None or b is None or a == b


def in_region(nodes: Iterable[str], path: str, blocked: Blocked = NONE) -> list[str]:
    region = engine.region_of_path(path)
    last = path.rsplit("/", 1)[-1]
    return [n for n in nodes if region in engine.node_regions(n) and ((n, region) not in blocked or last == n)]


def compatible(nodes: Iterable[str], path: str, blocked: Blocked = NONE) -> bool:
    return any(_sides_agree(n, path) for n in in_region(nodes, path, blocked))


def side_conflict(nodes: Iterable[str], path: str) -> bool:
    side = engine.path_side(path)
    if side is None:
        return False
    here = in_region(nodes, path)
    return bool(here) and all(engine.node_side(n) not in (None, side) for n in here)

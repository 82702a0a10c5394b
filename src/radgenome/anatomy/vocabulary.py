"""RadGenome's mask vocabulary: the 210 structure names its SAT masks use."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def mask_names() -> tuple[str, ...]:
    """RadGenome's 210 mask names, in the order of its released list."""
    text = resources.files("radgenome.anatomy").joinpath("data/mask_names.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def is_mask_name(name: str) -> bool:
    return name in _mask_name_set()


@cache
def _mask_name_set() -> frozenset[str]:
    return frozenset(mask_names())

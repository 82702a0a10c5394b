"""Anatomy: the region hierarchy, RadGenome paths and the mask vocabulary (imports nothing else of ours)."""

from radgenome.anatomy.hierarchy import (
    ANATOMICAL_REGIONS,
    TOP_LEVEL_REGIONS,
    Hierarchy,
    UnknownNodeError,
    load_hierarchy,
    path_sort_key,
)
from radgenome.anatomy.paths import choose_paths, expand_chosen, paths_of, sentence_paths
from radgenome.anatomy.vocabulary import is_mask_name, mask_names

__all__ = [
    "ANATOMICAL_REGIONS",
    "TOP_LEVEL_REGIONS",
    "Hierarchy",
    "UnknownNodeError",
    "choose_paths",
    "expand_chosen",
    "is_mask_name",
    "load_hierarchy",
    "mask_names",
    "path_sort_key",
    "paths_of",
    "sentence_paths",
]

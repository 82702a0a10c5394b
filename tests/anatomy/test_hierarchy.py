from __future__ import annotations

import pytest

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy, mask_names
from radgenome.anatomy.hierarchy import build_hierarchy


def test_mask_vocabulary_has_radgenome_210_unique_names() -> None:
    names = mask_names()
    assert len(names) == 210
    assert len(set(names)) == 210


def test_every_node_is_a_mask_name_or_a_documented_extra() -> None:
    h = load_hierarchy()
    vocab = set(mask_names())
    assert {n for n in h.nodes if n not in vocab} == set(h.extra_nodes)
    assert vocab <= h.nodes  # every mask name has a place in the hierarchy


def test_reference_paths_are_all_rendered(reference_dir) -> None:
    h = load_hierarchy()
    lines = (reference_dir / "radgenome_region_paths.tsv").read_text().splitlines()[1:]
    ref = {line.split("\t")[0] for line in lines if line.strip()}
    assert ref - set(h.all_paths()) == set()


def test_node_with_two_parents_has_two_paths() -> None:
    h = load_hierarchy()
    assert h.paths("left lung lower lobe") == (
        "lung/lung/left lung/left lung lower lobe",
        "lung/lung/lung lower lobe/left lung lower lobe",
    )
    assert set(h.paths("aorta")) == {"mediastinum/aorta", "abdomen/abdomen/aorta"}
    assert h.top_regions("aorta") == ("mediastinum", "abdomen")


def test_expand_paths_includes_every_ancestor_and_the_region() -> None:
    h = load_hierarchy()
    assert h.expand_paths(["thoracic vertebrae 9 (t9)"]) == (
        "bone",
        "bone/bone",
        "bone/bone/vertebrae",
        "bone/bone/vertebrae/thoracic vertebrae",
        "bone/bone/vertebrae/thoracic vertebrae/thoracic vertebrae 9 (t9)",
    )
    assert h.expand_paths(["others"]) == ("others",)
    assert h.expand_paths(["thoracic cavity"]) == ("others", "others/thoracic cavity")
    assert h.expand_paths(["mediastinum"]) == ("mediastinum",)


def test_leaves_and_descendants() -> None:
    h = load_hierarchy()
    assert h.leaves("left lung") == frozenset({"left lung upper lobe", "left lung lower lobe"})
    assert "right rib 7" in h.descendants("rib")
    assert h.ancestors("right rib 7") == frozenset({"rib 7", "right rib", "rib", "bone"})


def test_node_of_path_round_trip() -> None:
    h = load_hierarchy()
    for path in h.all_paths():
        node = h.node_of_path(path)
        assert path in TOP_LEVEL_REGIONS or path in h.paths(node)
    with pytest.raises(KeyError):
        h.node_of_path("lung/heart")


def test_invalid_hierarchies_are_rejected() -> None:
    with pytest.raises(ValueError, match="cycle"):
        build_hierarchy({"lung": ["a"]}, {"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="unknown top-level"):
        build_hierarchy({"lungs": ["a"]}, {})
    with pytest.raises(ValueError, match="not reachable"):
        build_hierarchy({"lung": ["a"]}, {"x": ["y"]})

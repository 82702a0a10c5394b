"""Multi-parent nodes take the parent their qualifier names; single-region nodes keep every path."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from radgenome.anatomy import choose_paths, expand_chosen, load_hierarchy, paths_of, sentence_paths
from radgenome.anatomy.paths import build_qualifiers, load_qualifiers, multi_region_nodes

MED, ABD = "mediastinum/aorta", "abdomen/abdomen/aorta"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Calcific atherosclerotic changes were observed in the thoracic aorta and coronary artery walls.", (MED,)),
        ("The ascending aorta measures 41 mm.", (MED,)),
        ("Atheroma plaques in the aortic arch.", (MED,)),
        ("The descending thoracic aorta is ectatic.", (MED,)),
        ("Thoracic aorta diameter is normal.", (MED,)),
        ("The abdominal aorta is ectatic.", (ABD,)),
        ("Infrarenal aortic aneurysm.", (ABD,)),
        ("Calcified plaques in the thoracic and abdominal aorta.", (MED, ABD)),
        ("Atherosclerotic changes in the aorta.", (MED,)),  # unqualified in a chest CT
    ],
)
def test_the_aorta_takes_the_region_its_qualifier_names(text: str, expected: tuple[str, ...]) -> None:
    assert choose_paths("aorta", text) == expected


def test_single_region_nodes_keep_all_their_paths() -> None:
    h = load_hierarchy()
    assert choose_paths("left lung lower lobe", "abdominal aorta") == h.paths("left lung lower lobe")
    assert len(h.paths("left lung lower lobe")) == 2
    assert choose_paths("others", "anything") == ("others",)


def test_sentence_paths_and_expansion() -> None:
    chosen = sentence_paths(("aorta", "heart"), "Plaques in the thoracic aorta and coronary arteries.")
    assert chosen == (MED, "heart/heart")
    assert expand_chosen(chosen) == ("mediastinum", MED, "heart", "heart/heart")
    assert paths_of("aorta", chosen) == (MED,)
    # a node not covered by the recorded paths is chosen from the text
    assert paths_of("aorta", ("heart/heart",), "the abdominal aorta") == (ABD,)


def test_every_multi_region_node_has_qualifiers_and_the_data_is_checked() -> None:
    h = load_hierarchy()
    multi = multi_region_nodes(h)
    assert multi == {"aorta": ("abdomen", "mediastinum")}
    assert set(load_qualifiers()) == set(multi)
    raw = tomllib.loads(resources.files("radgenome.anatomy").joinpath("data/path_qualifiers.toml").read_text())
    with pytest.raises(ValueError, match="no entry"):
        build_qualifiers({"node": []}, h)
    bad = {"node": [{**raw["node"][0], "default": ["heart"]}]}
    with pytest.raises(ValueError, match="no path under 'heart'"):
        build_qualifiers(bad, h)
    with pytest.raises(ValueError, match="not a node with parents under two"):
        build_qualifiers({"node": [*raw["node"], {"name": "left lung lower lobe", "default": ["lung"]}]}, h)

"""Items come from the dataset tables by their own schema, with the RadGenome path the build recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from radgenome.dataset.schemas import SENTENCE_SCHEMA
from radgenome.model import OutputLayout
from radgenome.review.sources import NotABuildError, load_items, reading_order

SENTENCES_FILE = OutputLayout.GROUNDED_SENTENCES
QA_FILE = OutputLayout.QA_PAIRS


def _copy(sample_out: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(sample_out / "cases", out / "cases")
    shutil.copytree(sample_out / "dataset", out / "dataset")
    return out


def _rewrite_node_paths(out: Path, text_start: str, paths: list[str]) -> None:
    file = out / SENTENCES_FILE
    rows = pq.read_table(file).to_pylist()
    hit = [r for r in rows if r["text"].startswith(text_start)]
    assert len(hit) == 1
    hit[0]["node_paths"] = paths
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows, schema=SENTENCE_SCHEMA), file)


def test_one_item_per_node_and_region_of_the_recorded_paths(sample_out: Path) -> None:
    loaded = load_items(sample_out)
    assert not loaded.problems
    sentences = pq.read_table(sample_out / SENTENCES_FILE).to_pylist()
    expected: dict[tuple[str, int, str, str], str] = {}
    for r in sentences:
        if r["in_region_report"]:
            for p in reading_order(r["node_paths"]):
                expected.setdefault((r["stem"], r["sentence_index"], p.rsplit("/", 1)[-1], p.split("/")[0]), p)
    got = {(i.stem, i.sentence_index, i.node, i.region): i.path for i in loaded.items if i.kind == "sentence"}
    assert got == expected
    lobes = [i.path for i in loaded.items if i.kind == "sentence" and i.node == "right lung lower lobe"]
    assert lobes and set(lobes) == {"lung/lung/right lung/right lung lower lobe"}  # one item, read through its side
    aorta = sorted(i.path for i in loaded.items if i.kind == "sentence" and i.node == "aorta")
    assert aorta == sorted(p for r in sentences if r["text"].startswith("Calcified plaques") for p in r["node_paths"])
    for item in loaded.items:
        assert item.region == item.path.split("/", 1)[0]
        assert item.path.rsplit("/", 1)[-1] == item.node or item.path == item.node
    qa = pq.read_table(sample_out / QA_FILE).to_pylist()
    assert sorted((i.source_id, i.path) for i in loaded.items if i.kind == "qa") == \
        sorted((r["qa_id"], r["path"] or "") for r in qa)
    assert len({i.id for i in loaded.items}) == len(loaded.items)


def test_recorded_path_is_used_not_the_first_hierarchy_path(sample_out: Path, tmp_path: Path) -> None:
    """A text engine that files "thoracic aorta" under the mediastinum only gets exactly that item."""
    out = _copy(sample_out, tmp_path)
    _rewrite_node_paths(out, "Calcified plaques in the aorta", ["mediastinum/aorta"])
    items = [i for i in load_items(out).items if i.kind == "sentence" and i.node == "aorta"]
    assert [(i.path, i.region) for i in items] == [("mediastinum/aorta", "mediastinum")]


def test_bad_rows_are_named_and_the_rest_load(sample_out: Path, tmp_path: Path) -> None:
    out = _copy(sample_out, tmp_path)
    _rewrite_node_paths(out, "Esophagus is normal", ["esophagus/elbow"])
    (out / "cases" / "valid_2_a_1.json").unlink()
    loaded = load_items(out)
    assert any("'esophagus/elbow' is not a region path" in p for p in loaded.problems)
    assert any("valid_2_a_1" in p and "no case record" in p for p in loaded.problems)
    assert not any(i.stem == "valid_2_a_1" for i in loaded.items)
    assert any(i.stem == "valid_1_a_1" for i in loaded.items)


def test_not_a_build(tmp_path: Path, sample_out: Path) -> None:
    with pytest.raises(NotABuildError, match="no cases/"):
        load_items(tmp_path)
    out = tmp_path / "half"
    shutil.copytree(sample_out / "cases", out / "cases")
    with pytest.raises(NotABuildError, match=r"grounded_sentences\.parquet"):
        load_items(out)

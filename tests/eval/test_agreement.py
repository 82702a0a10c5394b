"""radgenome eval agreement: two `text` outputs' sentences.parquet → metrics and a review queue."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.dataset.sentences_parquet import SCHEMA
from radgenome.eval.agreement import (
    QUEUE_COLUMNS,
    BinaryAgreement,
    cohen_kappa,
    compare,
    read_sentences,
)


def _row(volume: str, index: int, text: str, nodes: list[str], findings: list[tuple[str, str]], **kw: Any) -> dict:
    return {
        "volume": volume,
        "section": kw.get("section", "findings"),
        "index": index,
        "text": text,
        "start": 0,
        "end": len(text),
        "marker": "",
        "nodes": nodes,
        "paths": [],
        "grounding_confidence": 1.0,
        "polarity": findings[0][1] if findings else None,
        "findings": [
            {"phrase": p, "polarity": q, "nodes": nodes, "attributes": [], "sizes_mm": []} for p, q in findings
        ],
        "measurements": [],
        "flags": [],
        "backend": kw.get("backend", "rules"),
        "version": "t",
        "model": "",
        "prompt_version": "",
    }


def _write(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "sentences.parquet")
    return folder


@pytest.fixture
def outputs(tmp_path: Path) -> tuple[Path, Path]:
    a = [
        _row("v1", 0, "Nodule in the left upper lobe.", ["left lung upper lobe"], [("nodule", "present")]),
        _row("v1", 1, "No pleural effusion.", ["pleura"], [("pleural effusion", "absent")]),
        _row("v1", 2, "Heart normal.", ["heart"], []),
        _row("v1", 3, "Possible atelectasis.", ["lung"], [("atelectasis", "uncertain")]),
        _row("v1", 4, "Only in A.", ["others"], []),
        _row("v1", 5, "Reason: cough.", [], [], section="clinical"),
    ]
    b = [
        _row("v1", 0, "Nodule in the left upper lobe.", ["left lung"], [("nodule", "present")], backend="llm"),
        _row("v1", 1, "No pleural effusion.", ["pleura"], [("pleural effusion", "absent")], backend="llm"),
        _row("v1", 2, "Heart normal.", ["heart"], [], backend="llm"),
        _row("v1", 3, "Possible atelectasis.", ["lung"], [("atelectasis", "present")], backend="llm"),
        _row("v1", 6, "Only in B.", ["bone"], [], backend="llm"),
        _row("v1", 5, "Reason: cough.", ["others"], [], section="clinical"),
    ]
    return _write(tmp_path / "a", a), _write(tmp_path / "b", b)


def test_kappa_known_values() -> None:
    assert cohen_kappa([True, False, True, False], [True, False, True, False]) == 1.0
    assert math.isclose(cohen_kappa([True, True, False, False], [True, False, True, False]), 0.0)
    assert math.isclose(cohen_kappa([True, False], [False, True]), -1.0)
    assert math.isnan(cohen_kappa([False, False], [False, False]))
    # textbook 2x2: 20 both, 5 only A, 10 only B, 15 neither → po=.7, pe=.5 → kappa .4
    g = BinaryAgreement("x", both=20, only_a=5, only_b=10, neither=15)
    assert math.isclose(g.kappa, 0.4) and math.isclose(g.percent, 70.0)


def test_compare_metrics(outputs: tuple[Path, Path]) -> None:
    a, b = (read_sentences(p) for p in outputs)
    rep = compare(a, b)
    assert rep.matched == 4 and rep.only_a == 1 and rep.only_b == 1 and rep.text_differs == 0
    lung = rep.regions["lung"]
    assert (lung.both, lung.only_a, lung.only_b, lung.neither) == (2, 0, 0, 2)
    assert rep.regions["pleura"].kappa == 1.0
    assert math.isnan(rep.regions["bone"].kappa)  # nobody grounds a matched sentence to bone
    upper = rep.nodes["left lung upper lobe"]
    assert (upper.both, upper.only_a, upper.only_b, upper.neither) == (0, 1, 0, 3)
    assert rep.nodes["left lung"].both == 1  # ancestors count: both sides say "left lung"
    assert rep.exact_nodes == 3 and rep.exact_findings == 3
    assert rep.phrases_both == 3 and rep.phrases_only_a == 0 and rep.phrases_only_b == 0
    assert rep.polarity[("uncertain", "present")] == 1 and math.isclose(rep.polarity_agreement, 2 / 3)
    kinds = sorted(q["disagreement"] for q in rep.queue)
    assert kinds == ["findings", "nodes", "only_a", "only_b"]


def _agreement(a: Path, b: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["eval", "agreement", str(a), str(b), *args])


def test_run_writes_the_queue(outputs: tuple[Path, Path], tmp_path: Path) -> None:
    queue = tmp_path / "review" / "queue.csv"
    res = _agreement(*outputs, "-o", str(queue))
    assert res.exit_code == 0, res.output
    printed = res.output
    assert "per top-level region" in printed and "kappa" in printed and "disagreeing sentences: 4" in printed
    with queue.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == QUEUE_COLUMNS
    nodes_row = next(r for r in rows if r["disagreement"] == "nodes")
    assert nodes_row["text"] == "Nodule in the left upper lobe." and nodes_row["index"] == "0"
    assert json.loads(nodes_row["nodes_a"]) == ["left lung upper lobe"]
    assert json.loads(nodes_row["nodes_b"]) == ["left lung"]
    assert json.loads(nodes_row["findings_b"]) == [{"phrase": "nodule", "polarity": "present"}]
    assert nodes_row["backend_b"] == "llm"


def test_text_mismatch_and_missing_input(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", [_row("v", 0, "One.", ["heart"], [])])
    b = _write(tmp_path / "b", [_row("v", 0, "Another.", ["heart"], [])])
    rep = compare(read_sentences(a), read_sentences(b / "sentences.parquet"))
    assert rep.matched == 0 and rep.text_differs == 1 and rep.queue[0]["disagreement"] == "text_differs"
    res = _agreement(a, tmp_path / "nowhere")
    assert res.exit_code == 2 and "no sentences.parquet" in res.output

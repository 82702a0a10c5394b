"""``radgenome demo`` end to end (through the CLI commands registered by radgenome.pipeline.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from radgenome.pipeline.cli import register


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        pass

    register(app)
    return app


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["demo", "-o", str(tmp_path / "demo"), "--cases", "4", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "demo" / "out"
    assert str(out / "report.html") in result.output
    corpus = tmp_path / "demo" / "corpus" / "dataset"
    assert (corpus / "radiology_text_reports" / "validation_reports.csv").is_file()
    assert len(list(corpus.rglob("*.nii.gz"))) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 4 and summary["failed"] == 0
    assert summary["mask_status"].get("ok", 0) > 0
    for name in ("report.html", "manifest.sqlite", "dataset/qa_pairs.parquet", "dataset/grounded_sentences.parquet"):
        assert (out / name).is_file(), name
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=str(out / "dataset" / "qa_pairs.parquet"), split="train",
                      cache_dir=str(tmp_path / "hf"))
    assert len(ds) > 0 and "question" in ds.column_names

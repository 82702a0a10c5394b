"""Both Parquet tables load with `datasets.load_dataset("parquet", ...)` (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radgenome.dataset.schemas import QA_SCHEMA, SENTENCE_SCHEMA
from radgenome.model import CaseRecord, OutputLayout


def test_load_dataset_parquet(
    built: tuple[Path, list[CaseRecord]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    out, records = built
    # the two tables have different columns: one load_dataset call each
    sentences, qa = (
        datasets.load_dataset("parquet", data_files=str(out / name), split="train", cache_dir=str(tmp_path / "hf"))
        for name in (OutputLayout.GROUNDED_SENTENCES, OutputLayout.QA_PAIRS)
    )
    assert sentences.column_names == SENTENCE_SCHEMA.names
    assert qa.column_names == QA_SCHEMA.names
    assert set(sentences["volume"]) == {r.volume for r in records}
    assert set(qa["kind"]) == {"abnormality", "location", "presence", "size", "disorders"}
    train = qa.filter(lambda row: row["split"] == "train")
    assert 0 < len(train) < len(qa)
    row = sentences[0]
    assert isinstance(row["masks"], list) and {"node", "status", "labelmap"} <= set(row["masks"][0])

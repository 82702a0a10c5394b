"""`radgenome text --backend hybrid|llm` end to end: the rules engine, this backend and the writers together."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.pipeline.text_run import run_text
from radgenome.testing import Reply, ScriptedServer
from radgenome.text.llm.settings import LLMSettings

pytest.importorskip("httpx")

REPORTS = [
    {
        "VolumeName": "valid_1_a_1",
        "ClinicalInformation_EN": "Cough.",
        "Technique_EN": "",
        "Findings_EN": "A 5 mm nodule is seen in the right upper lobe. It has not changed. No pleural effusion.",
        "Impressions_EN": "Stable nodule.",
    },
    {
        "VolumeName": "valid_2_a_1",
        "ClinicalInformation_EN": "",
        "Technique_EN": "",
        "Findings_EN": "No pleural effusion. Heart size is normal.",
        "Impressions_EN": "",
    },
]
CONTEXT_SENTENCE = "It has not changed."


@pytest.fixture
def reports_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reports.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(REPORTS[0]))
        writer.writeheader()
        writer.writerows(REPORTS)
    return path


def _answer(sentence: str) -> Reply:
    if sentence == CONTEXT_SENTENCE:
        return Reply.answer(
            ["right lung upper lobe"], [{"phrase": "nodule", "polarity": "present", "attributes": ["not changed"]}]
        )
    if "effusion" in sentence:
        return Reply.answer(["pleura"], [{"phrase": "pleural effusion", "polarity": "absent"}])
    if "Heart" in sentence:
        return Reply.answer(["heart"])
    return Reply.answer(["lung"], [{"phrase": "nodule", "polarity": "present", "size_text": "5 mm"}])


def test_hybrid_and_llm_runs(reports_csv: Path, tmp_path: Path) -> None:
    with ScriptedServer(default=_answer) as srv:
        assert not run_text(reports_csv, tmp_path / "rules", backend="rules").failed

        def settings(mode: str) -> LLMSettings:
            return LLMSettings(base_url=srv.url, model="m", mode=mode, cache_dir=tmp_path / "cache", timeout_s=5)

        hybrid_run = run_text(reports_csv, tmp_path / "hybrid", backend="hybrid",
                              backend_options={"settings": settings("hybrid")})
        assert not hybrid_run.failed and hybrid_run.provenance["llm_stats"]["answered"] == 1
        assert [r.sentence for r in srv.requests] == [CONTEXT_SENTENCE]  # the only low-confidence sentence
        context_turn = srv.requests[0].body["messages"][-1]["content"]
        assert context_turn.startswith("Previous sentence: A 5 mm nodule is seen in the right upper lobe.")

        args = ["--backend", "llm", "--llm-base-url", srv.url, "--llm-model", "m",
                "--llm-cache", str(tmp_path / "cache"), "--llm-timeout", "5"]
        res = CliRunner().invoke(app, ["text", str(reports_csv), "-o", str(tmp_path / "llm"), *args])
        assert res.exit_code == 0, res.output
        sent = {r.sentence for r in srv.requests}
        assert "Cough." not in sent and len(srv.requests) == len(sent)  # identical texts asked once
        n = srv.count()
        again = run_text(reports_csv, tmp_path / "llm2", backend="llm", backend_options={"settings": settings("llm")})
        assert not again.failed
        assert srv.count() == n  # all from the cache

    rules = pq.read_table(tmp_path / "rules" / "sentences.parquet")
    for mode in ("hybrid", "llm"):
        table = pq.read_table(tmp_path / mode / "sentences.parquet")
        assert table.schema.equals(rules.schema)
        assert table.column("text").to_pylist() == rules.column("text").to_pylist()
        assert sorted(p.name for p in (tmp_path / mode / "radgenome_files").iterdir()) == sorted(
            p.name for p in (tmp_path / "rules" / "radgenome_files").iterdir()
        )
    hybrid = pq.read_table(tmp_path / "hybrid" / "sentences.parquet").to_pylist()
    by_text = {r["text"]: r for r in hybrid}
    assert by_text[CONTEXT_SENTENCE]["backend"] == "llm"
    assert by_text[CONTEXT_SENTENCE]["findings"][0]["phrase"] == "nodule"
    assert by_text["No pleural effusion."]["backend"] == "rules"
    assert by_text[CONTEXT_SENTENCE]["prompt_version"].startswith("v1-")

    queue = tmp_path / "queue.csv"
    res = CliRunner().invoke(
        app, ["eval", "agreement", str(tmp_path / "rules"), str(tmp_path / "llm"), "-o", str(queue)]
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(queue.open(encoding="utf-8")))
    assert any(r["text"] == "Stable nodule." for r in rows)  # rules: "stable nodule"; model: "nodule"

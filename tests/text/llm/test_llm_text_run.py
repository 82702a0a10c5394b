"""`radgenome text --backend hybrid|llm` end to end: the rules engine, this backend and the writers together."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

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


# ------------------------------------------------------------------------ exit status, provenance, log
def _cli(reports_csv: Path, out: Path, url: str, *extra: str) -> Any:
    args = ["text", str(reports_csv), "-o", str(out), "--backend", "llm", "--llm-base-url", url, "--llm-model", "m",
            "--no-llm-cache", "--llm-timeout", "5", "--llm-max-retries", "0", *extra]
    return CliRunner().invoke(app, args)


def test_exit_3_with_counts_when_the_model_answers_too_little(reports_csv: Path, tmp_path: Path) -> None:
    with ScriptedServer(default=lambda _s: Reply.raw("The sentence is about the lung.")) as srv:
        res = _cli(reports_csv, tmp_path / "out", srv.url)
    assert res.exit_code == 3, res.output
    assert "fell short: the model answered 0 of 6 sentences sent to it (0.0%, less than the required 95%)" in res.output
    assert "llm_invalid_json 6" in res.output and "llm_log.jsonl" in res.output
    # outputs are written all the same, every sentence flagged and carrying the rules' result
    rows = pq.read_table(tmp_path / "out" / "sentences.parquet").to_pylist()
    sent = [r for r in rows if r["section"] in ("findings", "impressions")]
    assert sent and all(r["flags"][-1] == "llm_invalid_json" and r["backend"] == "rules" for r in sent)
    assert (tmp_path / "out" / "radgenome_files" / "validation_vqa_abnormality.csv").exists()
    assert len((tmp_path / "out" / "llm_log.jsonl").read_text().splitlines()) == 5  # distinct questions


def test_exit_0_at_the_threshold_and_3_below(reports_csv: Path, tmp_path: Path) -> None:
    def answer(sentence: str) -> Reply:
        return Reply.raw("no") if sentence == "Heart size is normal." else _answer(sentence)

    with ScriptedServer(default=answer) as srv:
        assert _cli(reports_csv, tmp_path / "a", srv.url).exit_code == 3  # 5 of 6 = 83 %
        res = _cli(reports_csv, tmp_path / "b", srv.url, "--llm-min-success", "0.8")
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "b" / "text_run.json").read_text())
    assert run["backend_ok"] is True and run["provenance"]["llm_stats"]["answered"] == 5


def test_preflight_failure_is_fatal_with_url_status_and_server_text(reports_csv: Path, tmp_path: Path) -> None:
    with ScriptedServer(models=["qwen2.5:7b"]) as srv:
        res = _cli(reports_csv, tmp_path / "out", srv.url)
        assert srv.count() == 0
    assert res.exit_code == 1
    assert f"fatal: model 'm' is unknown to the server: HTTP 404 from {srv_url(res)}" in res.output
    assert "The model `m` does not exist." in res.output and "qwen2.5:7b" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out" / "sentences.parquet").exists()


def srv_url(res: Any) -> str:
    """The chat URL the CLI output names."""
    start = res.output.index("http://")
    return res.output[start : res.output.index("/chat/completions") + len("/chat/completions")]


def test_server_down_is_fatal_at_once(reports_csv: Path, tmp_path: Path) -> None:
    with ScriptedServer() as dead:
        url = dead.url
    res = _cli(reports_csv, tmp_path / "out", url)
    assert res.exit_code == 1
    assert f"fatal: cannot connect to the LLM server at {url}/models" in res.output


def test_model_provenance_only_on_model_rows(reports_csv: Path, tmp_path: Path) -> None:
    with ScriptedServer(default=_answer) as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="hybrid", cache_dir=None, timeout_s=5)
        run_text(reports_csv, tmp_path / "out", backend="hybrid", backend_options={"settings": settings})
    rows = pq.read_table(tmp_path / "out" / "sentences.parquet").to_pylist()
    assert {r["backend"] for r in rows} == {"llm", "rules"}
    for r in rows:
        if r["backend"] == "llm":
            assert r["model"] == "m" and r["prompt_version"].startswith("v1-")
        else:
            assert r["model"] is None and r["prompt_version"] is None


def test_unsupported_phrases_stay_out_of_the_vqa_tables(reports_csv: Path, tmp_path: Path) -> None:
    def answer(sentence: str) -> Reply:
        if sentence == "Heart size is normal.":
            return Reply.answer(["heart"], [{"phrase": "cardiomegaly", "polarity": "present"}])  # invented
        return _answer(sentence)

    with ScriptedServer(default=answer) as srv:
        res = _cli(reports_csv, tmp_path / "out", srv.url, "--llm-min-success", "0")
    assert res.exit_code == 0, res.output
    tables = tmp_path / "out" / "radgenome_files"
    for table in tables.glob("*_vqa_*.csv"):
        assert "cardiomegaly" not in table.read_text(), table.name
    rows = pq.read_table(tmp_path / "out" / "sentences.parquet").to_pylist()
    (heart,) = [r for r in rows if r["text"] == "Heart size is normal."]
    assert heart["flags"] == ["llm_unsupported_phrase"] and heart["backend"] == "rules"
    logged = [json.loads(line) for line in (tmp_path / "out" / "llm_log.jsonl").read_text().splitlines()]
    (entry,) = [e for e in logged if e["question"].endswith("Heart size is normal.")]
    assert entry["result"] == "llm_unsupported_phrase" and "'cardiomegaly'" in entry["detail"]

"""``radgenome build --backend llm|hybrid``: the LLM backends in a build, through a scripted model server.

The model is asked from the coordinating process, in batches (identical sentences once per batch); each case's
analysis travels to its worker with the job, and the record says which backend, model and prompt made it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.model import read_record
from radgenome.testing import Reply, ScriptedServer

pytest.importorskip("httpx")


def _answer(sentence: str) -> Reply:
    """Grounded to the lung, with a finding phrase made of the sentence's own words (its last word)."""
    word = sentence.split()[-1].strip(".,;:()").lower() or "finding"
    return Reply.answer(["lung"], [{"phrase": word, "polarity": "present"}])


def test_llm_build_with_two_workers(corpus_factory: Callable[[int], Path], tmp_path: Path, run: Any) -> None:
    from radgenome.text.llm.settings import LLMSettings

    root = corpus_factory(4)
    with ScriptedServer(default=_answer) as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="llm", cache_dir=None, timeout_s=5)
        res = run(tmp_path / "llm", root, workers=2, text_only=True, text_backend="llm",
                  text_options={"settings": settings})
        asked = [r.sentence for r in srv.requests]
    assert res.exit_code == 0 and res.done == 4, res
    assert res.text_stats["answered"] == res.text_stats["sentences_sent"] > 0 and res.text_problem == ""
    assert (tmp_path / "llm" / "llm_log.jsonl").read_text().count("\n") == len(asked)
    assert asked and len(asked) == len(set(asked))  # one batch: every distinct sentence asked once
    records = [read_record(p) for p in sorted((tmp_path / "llm" / "cases").glob("*.json"))]
    assert len(records) == 4
    for rec in records:
        assert rec.analysis.backend == "llm" and rec.provenance.text_settings["model"] == "m"
        grounded = [s for s in rec.sentences if s.section.value in ("findings", "impressions") and s.text.strip()]
        assert grounded and all(s.backend == "llm" and s.nodes == ("lung",) for s in grounded)
        assert all(s.text in asked for s in grounded)
    rules = run(tmp_path / "rules", root, text_only=True)
    assert rules.exit_code == 0
    a = read_record(tmp_path / "rules" / "cases" / f"{records[0].stem}.json")
    assert a.provenance.input_fingerprint != records[0].provenance.input_fingerprint  # another engine: redone
    assert a.provenance.text_settings == {} and a.analysis.backend == "rules"


def test_a_report_the_text_backend_cannot_analyse_fails_its_case_only(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radgenome.text.engine import RulesBackend
    from radgenome.text.llm.settings import LLMSettings

    real = RulesBackend.analyze

    def analyze(self: RulesBackend, report: Any) -> Any:
        if report.volume.startswith("train_2"):
            raise RuntimeError("cannot read this one")
        return real(self, report)

    monkeypatch.setattr(RulesBackend, "analyze", analyze)
    with ScriptedServer(default=_answer) as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="hybrid", cache_dir=None, timeout_s=5)
        res = run(tmp_path / "out", corpus_factory(4), text_only=True, text_backend="hybrid",
                  text_options={"settings": settings})
    assert res.exit_code == 3 and res.done == 3
    (failure,) = res.failures
    assert failure.volume.startswith("train_2") and failure.stage == "text" and "cannot read this one" in failure.reason


def test_build_cli_shares_the_text_options(corpus_factory: Callable[[int], Path], tmp_path: Path) -> None:
    root = str(corpus_factory(4))
    runner = CliRunner()
    res = runner.invoke(app, ["build", root, "-o", str(tmp_path / "o"), "--backend", "classical"])
    assert res.exit_code == 1 and "--seg-backend" in res.output
    res = runner.invoke(app, ["build", root, "-o", str(tmp_path / "o"), "--backend", "hybrid"])
    assert res.exit_code == 1 and "--llm-base-url and --llm-model" in res.output
    build_help = runner.invoke(app, ["build", "--help"], terminal_width=200).output
    text_help = runner.invoke(app, ["text", "--help"], terminal_width=200).output
    for flag in ("--backend", "--llm-base-url", "--llm-model", "--llm-concurrency", "--llm-threshold",
                 "--no-llm-cache", "--llm-structured-output", "--seg-backend"):
        assert flag in build_help, flag
        assert flag in text_help or flag == "--seg-backend", flag


def test_llm_build_that_falls_short_exits_3_with_the_counts(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Any
) -> None:
    from radgenome.text.llm.settings import LLMSettings

    with ScriptedServer(default=lambda _s: Reply.raw("It is the lung.")) as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="llm", cache_dir=None, timeout_s=5,
                               max_consecutive_bad_answers=10_000)
        res = run(tmp_path / "out", corpus_factory(4), text_only=True, text_backend="llm",
                  text_options={"settings": settings})
    assert res.exit_code == 3 and res.done == 4 and res.failed == 0  # every case built, on the rules' results
    assert res.text_problem.startswith("the model answered 0 of ")
    assert "llm_invalid_json" in res.text_problem and str(tmp_path / "out" / "llm_log.jsonl") in res.text_problem
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["exit_code"] == 3 and summary["text_stats"]["answered"] == 0
    assert (tmp_path / "out" / "radgenome_files").is_dir()


def test_llm_build_with_an_unusable_server_is_fatal_before_any_case(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Any
) -> None:
    from radgenome.pipeline.build import BuildError
    from radgenome.text.llm.settings import LLMSettings

    with ScriptedServer(api_key="secret") as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="llm", cache_dir=None, timeout_s=5,
                               api_key_env="RADGENOME_NO_SUCH_VARIABLE")
        with pytest.raises(BuildError) as info:
            run(tmp_path / "out", corpus_factory(4), text_only=True, text_backend="llm",
                text_options={"settings": settings})
        assert srv.count() == 0
    assert f"HTTP 401 from {srv_url(info.value)}/models: Incorrect API key provided." in str(info.value)
    assert "RADGENOME_NO_SUCH_VARIABLE, which is unset" in str(info.value)
    assert not list((tmp_path / "out" / "cases").glob("*.json"))


def srv_url(exc: BaseException) -> str:
    text = str(exc)
    start = text.index("http://")
    return text[start : text.index("/models", start)]


def test_llm_build_aborts_when_the_server_goes_down(
    corpus_factory: Callable[[int], Path], tmp_path: Path, run: Any
) -> None:
    from radgenome.pipeline.build import BuildError
    from radgenome.text.llm.client import PREFLIGHT_PROMPT
    from radgenome.text.llm.settings import LLMSettings

    script = {PREFLIGHT_PROMPT: [Reply.answer(["others"])]}
    with ScriptedServer(script, default=lambda _s: Reply.error(500, message="GPU fell off the bus")) as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="llm", cache_dir=None, timeout_s=5,
                               max_retries=0, concurrency=1, max_consecutive_errors=3)
        with pytest.raises(BuildError) as info:
            run(tmp_path / "out", corpus_factory(4), text_only=True, text_backend="llm",
                text_options={"settings": settings})
        assert srv.count() == 3
    msg = str(info.value)
    assert "LLM pass aborted: 3 failed attempts in a row" in msg and "GPU fell off the bus" in msg
    assert "run the same command again to resume" in msg
    assert not list((tmp_path / "out" / "cases").glob("*.json"))  # nothing built on the fallbacks
    assert "GPU fell off the bus" in (tmp_path / "out" / "build.log").read_text()

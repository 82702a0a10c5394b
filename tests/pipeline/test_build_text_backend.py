"""``radgenome build --backend llm|hybrid``: the LLM backends in a build, through a scripted model server.

The model is asked from the coordinating process, in batches (identical sentences once per batch); each case's
analysis travels to its worker with the job, and the record says which backend, model and prompt made it.
"""

from __future__ import annotations

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
    return Reply.answer(["lung"], [{"phrase": "scripted finding", "polarity": "present"}])


def test_llm_build_with_two_workers(corpus_factory: Callable[[int], Path], tmp_path: Path, run: Any) -> None:
    from radgenome.text.llm.settings import LLMSettings

    root = corpus_factory(4)
    with ScriptedServer(default=_answer) as srv:
        settings = LLMSettings(base_url=srv.url, model="m", mode="llm", cache_dir=None, timeout_s=5)
        res = run(tmp_path / "llm", root, workers=2, text_only=True, text_backend="llm",
                  text_options={"settings": settings})
        asked = [r.sentence for r in srv.requests]
    assert res.exit_code == 0 and res.done == 4, res
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

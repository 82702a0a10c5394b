"""Fixtures of the LLM backend tests: a scripted OpenAI-compatible server and hand-built rules analyses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from radgenome.model import Finding, Polarity, Report, ReportAnalysis, Section, Sentence
from radgenome.testing import ScriptedServer
from radgenome.text.llm.settings import LLMSettings
from radgenome.text.measure import parse_measurements


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def make_settings(server: ScriptedServer, tmp_path: Path) -> Callable[..., LLMSettings]:
    """Settings pointing at the test server, with short timeouts and a per-test cache folder."""

    def make(**overrides: object) -> LLMSettings:
        values: dict[str, object] = {
            "base_url": server.url,
            "model": "test-model",
            "mode": "llm",
            "concurrency": 4,
            "timeout_s": 2.0,
            "max_retries": 2,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "cache_dir": tmp_path / "cache",
        }
        values.update(overrides)
        return LLMSettings.model_validate(values)

    return make


def sentence(
    volume: str,
    index: int,
    text: str,
    nodes: tuple[str, ...],
    confidence: float = 1.0,
    findings: list[Finding] | None = None,
    section: Section = Section.FINDINGS,
) -> Sentence:
    return Sentence(
        volume=volume,
        section=section,
        index=index,
        text=text,
        start=0,
        end=len(text),
        nodes=nodes,
        grounding_confidence=confidence,
        findings=findings or [],
        measurements=parse_measurements(text),
    )


def analysis(volume: str, sentences: list[Sentence]) -> ReportAnalysis:
    findings = " ".join(s.text for s in sentences if s.section == Section.FINDINGS)
    impressions = " ".join(s.text for s in sentences if s.section == Section.IMPRESSIONS)
    return ReportAnalysis(
        report=Report(volume=volume, findings=findings, impressions=impressions),
        sentences=sentences,
        disorders=["atelectasis"],
        labels={"Atelectasis": 1},
        backend="rules",
        version="rules-test",
    )


def absent(phrase: str) -> Finding:
    return Finding(phrase=phrase, polarity=Polarity.ABSENT)


def present(phrase: str) -> Finding:
    return Finding(phrase=phrase, polarity=Polarity.PRESENT)


@pytest.fixture
def rb() -> SimpleNamespace:
    """Report builders: ``rb.sentence(...)``, ``rb.analysis(...)``, ``rb.absent(p)``, ``rb.present(p)``."""
    return SimpleNamespace(sentence=sentence, analysis=analysis, absent=absent, present=present)

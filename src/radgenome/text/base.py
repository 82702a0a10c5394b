"""The text-backend interface shared by every backend (rules, llm, hybrid): reports in, analyses out.

A backend turns a :class:`~radgenome.model.Report` into a :class:`~radgenome.model.ReportAnalysis` (sentences,
their RadGenome nodes, findings with polarity and sizes, case disorders, CT-RATE labels). Backends are built by
name with :func:`radgenome.text.registry.get_text_backend`.

``batch_size`` says where a build runs the backend: ``None`` (rules) — cheap to build anywhere, so every worker
process builds its own and analyses its cases one by one; an integer (the LLM backends) — one instance in the
build's coordinating process analyses the cases in batches of that many reports (one connection pool and request
budget against the model server, identical sentences asked once per batch, one answer cache, one set of
statistics), and the analyses travel to the workers with their cases.

Beyond each report's own result, a backend says how its run went as a whole (:meth:`TextBackend.verdict`: the
LLM backends fall short when the model answered too few of the sentences sent to it, and abort when their
circuit breaker opens) and may keep a per-sentence log (:meth:`TextBackend.set_log`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from radgenome.model import Report, ReportAnalysis

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(task, done, total)``: ``done`` of ``total`` reports have finished ``task`` (``rules``, then
``llm``/``hybrid`` for the model backends)."""


class TextBackendError(RuntimeError):
    """A text backend cannot be built: unknown name, bad or missing settings, software not installed."""


@dataclass(frozen=True, slots=True)
class TextFailure:
    """A report the backend could not analyse (the others go on)."""

    volume: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """How a backend's work went as a whole, beyond each report's own result."""

    ok: bool = True
    message: str = ""
    """Why the run falls short ('' when ``ok``), with the counts per failure kind."""
    aborted: bool = False
    """The backend gave up part-way (e.g. a circuit breaker opened): what it analyses from now on falls back."""


OK = RunVerdict()


@runtime_checkable
class TextBackend(Protocol):
    """A text backend."""

    name: str
    batch_size: int | None

    @property
    def version(self) -> str: ...

    def provenance(self) -> dict[str, str]:
        """``backend`` and ``version``, plus whatever else shapes the output (model, prompt version, ...)."""
        ...

    def analyze(self, report: Report) -> ReportAnalysis:
        """Analyse one report (raises on a report it cannot analyse)."""
        ...

    def analyze_many(
        self, reports: Sequence[Report], progress: Progress | None = None
    ) -> list[ReportAnalysis | TextFailure]:
        """Analyse many reports; one result per report, in order (a failing report never stops the others)."""
        ...

    def run_stats(self) -> dict[str, Any]:
        """Counters of the work done so far (requests, cache hits, fallbacks, ...); empty when there is nothing
        to count."""
        ...

    def verdict(self) -> RunVerdict:
        """How the work so far went as a whole (:data:`OK` for a backend that cannot fall short)."""
        ...

    def set_log(self, path: Path | None, *, append: bool = False) -> None:
        """Keep a per-sentence log of the backend's work in ``path`` (JSON lines; ``append`` to an earlier one);
        None stops logging. A backend without such a log ignores it."""
        ...

    def close(self) -> None: ...


def analyze_each(
    analyze: Callable[[Report], ReportAnalysis],
    reports: Sequence[Report],
    progress: Progress | None = None,
    task: str = "rules",
) -> list[ReportAnalysis | TextFailure]:
    """``analyze`` on every report; a report that raises becomes a :class:`TextFailure` (logged), the others go on."""
    out: list[ReportAnalysis | TextFailure] = []
    n = len(reports)
    for i, report in enumerate(reports, 1):
        try:
            out.append(analyze(report))
        except Exception as exc:  # one bad report never stops the corpus
            log.exception("text analysis failed for %s", report.volume)
            out.append(TextFailure(report.volume, f"{type(exc).__name__}: {exc}"))
        if progress is not None and (i % 256 == 0 or i == n):
            progress(task, i, n)
    return out


def identity(backend: TextBackend) -> str:
    """What makes a backend's output what it is: its version, plus its other provenance (model, ...) if any."""
    import json

    prov = backend.provenance()
    extra = {k: v for k, v in prov.items() if k not in ("backend", "version")}
    if not extra:
        return backend.version
    return json.dumps({"backend": backend.name, "version": backend.version, **extra}, sort_keys=True)

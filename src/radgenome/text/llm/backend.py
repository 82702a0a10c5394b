"""The LLM text backend: refines the rules' :class:`ReportAnalysis` with an OpenAI-compatible model.

Sentence splitting, spans, measurements and labels stay the rules'; the model re-grounds sentences and
re-extracts their findings (finding nodes narrowed as the rules narrow them), and the case disorders are
recomputed from the refined findings. ``mode="llm"`` sends every findings/impressions sentence, ``mode="hybrid"``
only those the rules ground with ``grounding_confidence < confidence_threshold``, to ``others`` or to nothing.
Identical sentence texts (very common across CT reports) are asked once per run; usable answers are cached on
disk. A sentence the rules grounded from the previous sentence ("It has not changed.") is sent with that
sentence as context.

Per sentence, ``Sentence.backend`` says whose result it carries: ``llm`` (the model's answer was applied) or
``rules`` (not sent, or fell back). A fallback keeps the rules' result and adds one flag of
:mod:`radgenome.text.llm.flags` saying why (no answer, not JSON, off-schema, truncated, too large, a finding
phrase whose words are not in the sentence).

Failing loudly and fast: before the first question the server is checked (:meth:`ChatClient.preflight`, which
raises :class:`~radgenome.text.llm.client.LLMServerError`); a circuit breaker aborts the pass after
``max_consecutive_errors`` failed requests or ``max_consecutive_bad_answers`` unusable answers in a row; and
:meth:`LLMBackend.verdict` says whether the model answered at least ``min_success`` of the sentences sent to it,
with the counts per failure kind. :meth:`LLMBackend.set_log` keeps one JSON line per question asked.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from radgenome import __version__
from radgenome.anatomy import load_hierarchy
from radgenome.model import Finding, Measurement, Polarity, Report, ReportAnalysis, Section, Sentence
from radgenome.text.base import OK, RunVerdict, TextFailure, analyze_each
from radgenome.text.base import Progress as TextProgress
from radgenome.text.disorders import case_disorders
from radgenome.text.engine import RulesBackend, finding_nodes
from radgenome.text.llm.cache import AnswerCache
from radgenome.text.llm.client import KIND_TOO_LARGE, CallResult, ChatClient
from radgenome.text.llm.flags import (
    FLAG_FAILED,
    FLAG_INVALID_JSON,
    FLAG_SCHEMA_VIOLATION,
    FLAG_SIZE_UNMATCHED,
    FLAG_TOO_LARGE,
    FLAG_TRUNCATED,
    FLAG_UNSUPPORTED_PHRASE,
)
from radgenome.text.llm.prompts import load_prompt, messages_for, user_message
from radgenome.text.llm.schema import OTHERS, AnswerError, FindingAnswer, SentenceAnswerBase, parse_answer
from radgenome.text.llm.settings import LLMSettings
from radgenome.text.llm.stats import LLMStats
from radgenome.text.llm.support import unsupported_words
from radgenome.text.measure import parse_measurements

log = logging.getLogger(__name__)

__all__ = [
    "FLAG_FAILED",
    "FLAG_INVALID_JSON",
    "FLAG_SCHEMA_VIOLATION",
    "FLAG_SIZE_UNMATCHED",
    "FLAG_TOO_LARGE",
    "FLAG_TRUNCATED",
    "FLAG_UNSUPPORTED_PHRASE",
    "LLMBackend",
    "Progress",
]

GROUNDED_SECTIONS = frozenset({Section.FINDINGS, Section.IMPRESSIONS})
RULES_GROUNDING_FLAG_PREFIX = "grounded_by_"
"""Flags the rules set about how they grounded a sentence; dropped when the model re-grounds it."""
DISAGREE_CONFIDENCE = 0.5
"""``grounding_confidence`` of a model-grounded sentence whose nodes differ from the rules' (1.0 when equal):
the model gives no calibrated confidence, two methods agreeing is the evidence we have."""
LOG_ANSWER_CHARS = 2000
"""How much of a raw answer the per-sentence log keeps."""

Progress = Callable[[int], None]
"""``progress(reports_done)``: how many of the ``refine_many`` reports have all their sentences answered."""


def _norm(text: str) -> str:
    return " ".join(text.split())


class _Outcome:
    """What happened to one distinct question: an answer, or a fallback flag with its failure kind."""

    __slots__ = ("answer", "detail", "flag", "kind")

    def __init__(
        self, answer: SentenceAnswerBase | None = None, flag: str | None = None, detail: str = "", kind: str = ""
    ) -> None:
        self.answer = answer
        self.flag = flag
        self.detail = detail
        self.kind = kind


class LLMBackend:
    """Refines rules analyses with a model; see the module docstring."""

    def __init__(
        self, settings: LLMSettings, *, client: ChatClient | None = None, cache: AnswerCache | None = None
    ) -> None:
        self.settings = settings
        self.stats = client.stats if client is not None else LLMStats()
        self._client = client
        if cache is not None:
            self.cache: AnswerCache | None = cache
        else:
            self.cache = AnswerCache(settings.cache_dir) if settings.cache_dir is not None else None
        self.prompt = load_prompt()
        self.identity = settings.answer_identity(self.prompt.version)
        """Everything that changes an answer (the cache key's first half)."""
        self._hierarchy = load_hierarchy()
        self._rules = RulesBackend()
        self._checked = not settings.preflight
        self._bad_in_a_row = 0
        self._log: IO[str] | None = None
        self.log_path: Path | None = None

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return self.settings.mode

    @property
    def version(self) -> str:
        return f"{__version__}+{self.prompt.version}"

    @property
    def prompt_version(self) -> str:
        return self.prompt.version

    def provenance(self) -> dict[str, str]:
        """Run provenance: backend, version, model, prompt version, server, and the settings that change answers
        (hybrid threshold, sampling, structured output). Sentence rows carry ``model`` and ``prompt_version``
        only where the model's answer was applied (``Sentence.backend == "llm"``)."""
        prov = {
            "backend": self.name,
            "version": self.version,
            "model": self.settings.model,
            "prompt_version": self.prompt.version,
            "base_url": self.settings.base_url,
        }
        if self.settings.mode == "hybrid":
            prov["confidence_threshold"] = f"{self.settings.confidence_threshold:g}"
        prov["temperature"] = f"{self.settings.temperature:g}"
        prov["max_tokens"] = str(self.settings.max_tokens)
        prov["structured_output"] = self.settings.structured_output
        return prov

    # ------------------------------------------------------------------ the TextBackend interface
    batch_size: int | None = 256
    """A build runs this backend in its coordinating process, on batches of this many reports."""

    def analyze(self, report: Report) -> ReportAnalysis:
        return self.refine(self._rules.analyze(report))

    def analyze_many(
        self, reports: Sequence[Report], progress: TextProgress | None = None
    ) -> list[ReportAnalysis | TextFailure]:
        """The rules first (a report they cannot analyse fails), then the model refines every analysis."""
        first = analyze_each(self._rules.analyze, reports, progress, "rules")
        done = [r for r in first if isinstance(r, ReportAnalysis)]
        report_progress = None if progress is None else (lambda n: progress(self.name, n, len(done)))
        refined = iter(self.refine_many(done, progress=report_progress))
        return [next(refined) if isinstance(r, ReportAnalysis) else r for r in first]

    def run_stats(self) -> dict[str, Any]:
        return self.stats.as_dict()

    def verdict(self) -> RunVerdict:
        """Falls short when the pass was aborted or the model's answer was applied to fewer than
        ``min_success`` of the sentences sent to it; the message has the counts per flag and failure kind."""
        st = self.stats
        counts = f"the model answered {st.answered} of {st.sentences_sent} sentences sent to it"
        failures = st.failure_summary()
        where = f"; per-sentence log: {self.log_path}" if self.log_path is not None else ""
        if st.aborted:
            fell_back = f"; fell back to the rules: {failures}" if failures else ""
            return RunVerdict(False, f"LLM pass aborted: {st.aborted}. {counts[0].upper()}{counts[1:]}{fell_back}"
                              f"{where}", True)
        if st.success_rate < self.settings.min_success:
            return RunVerdict(
                False,
                f"{counts} ({100 * st.success_rate:.1f}%, less than the required "
                f"{100 * self.settings.min_success:g}%); fell back to the rules: {failures}{where}",
            )
        return OK

    def set_log(self, path: Path | None, *, append: bool = False) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self.log_path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log = path.open("a" if append else "w", encoding="utf-8")

    @property
    def client(self) -> ChatClient:
        if self._client is None:
            self._client = ChatClient(self.settings, stats=self.stats)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.set_log(None)

    # ------------------------------------------------------------------ selection
    def needs_model(self, sentence: Sentence) -> bool:
        """Whether this sentence goes to the model in the configured mode."""
        if sentence.section not in GROUNDED_SECTIONS or not sentence.text.strip():
            return False
        if self.settings.mode == "llm":
            return True
        nodes = set(sentence.nodes)
        return not nodes or nodes == {OTHERS} or sentence.grounding_confidence < self.settings.confidence_threshold

    def query(self, analysis: ReportAnalysis, i: int) -> str:
        """The user turn for sentence ``i``: the sentence, preceded by the previous sentence of its section when
        the rules grounded it from that context ("It has not changed."). Also the cache's input text."""
        s = analysis.sentences[i]
        context = None
        if f"{RULES_GROUNDING_FLAG_PREFIX}context" in s.flags and i > 0:
            prev = analysis.sentences[i - 1]
            if prev.section == s.section:
                context = prev.text
        return user_message(s.text, context)

    # ------------------------------------------------------------------ refine
    def refine(self, analysis: ReportAnalysis) -> ReportAnalysis:
        return self.refine_many([analysis])[0]

    def refine_many(self, analyses: Sequence[ReportAnalysis], progress: Progress | None = None) -> list[ReportAnalysis]:
        """Refine many reports at once: all their sentences go through one concurrency-limited batch.

        Case disorders are recomputed from the refined findings; labels (text-based) stay the rules'. Raises
        :class:`~radgenome.text.llm.client.LLMServerError` when the preflight finds the server unusable, and
        lets ``KeyboardInterrupt`` through (answers received so far are in the cache).
        """
        t0 = time.perf_counter()
        reports_of: dict[str, set[int]] = {}
        remaining = [0] * len(analyses)
        n_sent = n_kept = 0
        queries: list[list[str | None]] = []
        for ai, a in enumerate(analyses):
            texts = set()
            per_sentence: list[str | None] = []
            for si, s in enumerate(a.sentences):
                query = None
                if self.needs_model(s):
                    query = self.query(a, si)
                    texts.add(query)
                    n_sent += 1
                elif s.section in GROUNDED_SECTIONS:
                    n_kept += 1
                per_sentence.append(query)
            queries.append(per_sentence)
            remaining[ai] = len(texts)
            for t in texts:
                reports_of.setdefault(t, set()).add(ai)

        reports_done = sum(1 for r in remaining if r == 0)
        if progress is not None and reports_done:
            progress(reports_done)

        def text_done(text: str) -> None:
            nonlocal reports_done
            finished = 0
            for ai in reports_of[text]:
                remaining[ai] -= 1
                finished += remaining[ai] == 0
            if finished:
                reports_done += finished
                if progress is not None:
                    progress(reports_done)

        outcomes = self._answer(list(reports_of), text_done)
        self.stats.add("sentences_sent", n_sent)
        self.stats.add("kept_rules", n_kept)
        self.stats.add("unique_texts", len(reports_of))

        out: list[ReportAnalysis] = []
        for a, qs in zip(analyses, queries, strict=True):
            sentences = [s if q is None else self._apply(s, outcomes[q]) for s, q in zip(a.sentences, qs, strict=True)]
            changed = any(s is not o for s, o in zip(sentences, a.sentences, strict=True))
            out.append(
                dataclasses.replace(
                    a,
                    sentences=sentences,
                    disorders=case_disorders(sentences) if changed else list(a.disorders),
                    backend=self.name,
                    version=self.version,
                )
            )
        self.stats.add("elapsed_s", time.perf_counter() - t0)
        failed = {o.flag: o.detail for o in outcomes.values() if o.flag}
        if failed:
            log.warning(
                "%d of %d LLM questions fell back to the rules (%s)",
                sum(1 for o in outcomes.values() if o.flag),
                len(outcomes),
                "; ".join(f"{flag}, e.g. {detail[:300]}" for flag, detail in sorted(failed.items())),
            )
        return out

    def _answer(self, texts: list[str], text_done: Callable[[str], None]) -> dict[str, _Outcome]:
        outcomes: dict[str, _Outcome] = {}
        to_ask: list[str] = []
        for text in texts:
            cached = self.cache.get(self.identity, text) if self.cache is not None else None
            if cached is None:
                to_ask.append(text)
                continue
            outcome = self._judge(text, cached, None)
            if outcome.answer is None:
                to_ask.append(text)  # stale or damaged entry: ask again
                continue
            outcomes[text] = outcome
            self.stats.add("cache_hits")
            self._write_log(text, outcome, cached=True)
            text_done(text)
        if not to_ask:
            return outcomes
        if self.client.aborted is None and not self._checked:
            self.client.preflight()  # raises LLMServerError: the server cannot work, say why at once
            self._checked = True

        def on_done(i: int, res: CallResult) -> None:
            text = to_ask[i]
            outcome = outcomes[text] = self._outcome(text, res)
            self._write_log(text, outcome, res=res)
            self._count_bad_answers(outcome)
            text_done(text)

        try:
            self.client.complete_many(
                [messages_for(q, self.prompt) for q in to_ask], on_done=on_done, deadline_s=self.settings.deadline_s
            )
        finally:
            if self._log is not None:
                self._log.flush()
            if self.client.aborted and not self.stats.aborted:
                self.stats.aborted = self.client.aborted
                log.error("LLM pass aborted: %s", self.client.aborted)
        return outcomes

    def _count_bad_answers(self, outcome: _Outcome) -> None:
        """Abort after ``max_consecutive_bad_answers`` unusable answers in a row (a server that answers, but
        never usably: the wrong model, a prompt it cannot follow, structured output ignored)."""
        if outcome.answer is not None:
            self._bad_in_a_row = 0
        elif outcome.flag != FLAG_FAILED:
            self._bad_in_a_row += 1
            if self._bad_in_a_row >= self.settings.max_consecutive_bad_answers:
                self.client.abort(f"{self._bad_in_a_row} unusable answers in a row; the last: {outcome.flag}: "
                                  f"{outcome.detail[:200]}")

    def _outcome(self, text: str, res: CallResult) -> _Outcome:
        if not res.ok:
            if res.kind == KIND_TOO_LARGE:
                return _Outcome(flag=FLAG_TOO_LARGE, detail=res.error or "", kind=res.kind)
            return _Outcome(flag=FLAG_FAILED, detail=res.error or "", kind=res.kind)
        outcome = self._judge(text, res.content, res.finish_reason)
        if outcome.answer is not None and self.cache is not None and res.content is not None:
            self.cache.put(self.identity, text, res.content)
        return outcome

    def _judge(self, text: str, content: str | None, finish_reason: str | None) -> _Outcome:
        """Parse, validate and check one answer to the question ``text`` (the sentence, with its context)."""
        try:
            answer = parse_answer(content, finish_reason=finish_reason, max_bytes=self.settings.max_answer_bytes)
        except AnswerError as exc:
            return _Outcome(flag=exc.flag, detail=exc.detail)
        for fa in answer.findings:
            missing = unsupported_words(fa.phrase, text)
            if missing:
                return _Outcome(
                    flag=FLAG_UNSUPPORTED_PHRASE,
                    detail=f"finding {fa.phrase!r}: {', '.join(repr(w) for w in missing)} not in the sentence",
                )
        return _Outcome(answer)

    def _write_log(self, text: str, outcome: _Outcome, *, res: CallResult | None = None, cached: bool = False) -> None:
        if self._log is None:
            return
        entry: dict[str, Any] = {
            "question": text,
            "result": "answered" if outcome.answer is not None else outcome.flag,
            "cached": cached,
        }
        if outcome.kind:
            entry["kind"] = outcome.kind
        if outcome.detail:
            entry["detail"] = outcome.detail
        if res is not None:
            entry["attempts"] = res.attempts
            if res.finish_reason:
                entry["finish_reason"] = res.finish_reason
            if res.content is not None:
                entry["answer"] = res.content[:LOG_ANSWER_CHARS]
        self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    # ------------------------------------------------------------------ apply one answer
    def _finest(self, nodes: Sequence[str]) -> tuple[str, ...]:
        """De-duplicated; ``others`` dropped next to a real node; ancestors of chosen nodes dropped (a top-level
        region name such as ``mediastinum`` too, next to a node under it)."""
        h = self._hierarchy
        uniq = list(dict.fromkeys(nodes))
        real = [n for n in uniq if n != OTHERS]
        if not real:
            return (OTHERS,)
        covered: set[str] = set()
        for n in real:
            if n in h:
                covered |= h.ancestors(n)
                covered |= {r for r in h.top_regions(n) if r != n}
        return tuple(n for n in real if n not in covered)

    def _apply(self, s: Sentence, outcome: _Outcome) -> Sentence:
        if outcome.answer is None:
            flag = outcome.flag or FLAG_FAILED
            self.stats.add_fallback(flag, outcome.kind if flag == FLAG_FAILED else "")
            return dataclasses.replace(s, flags=(*s.flags, flag), backend="rules")
        answer = outcome.answer
        nodes = self._finest(answer.nodes)
        flags = [f for f in s.flags if not f.startswith(RULES_GROUNDING_FLAG_PREFIX)]
        measurements = s.measurements or parse_measurements(s.text)
        findings: list[Finding] = []
        for fa in answer.findings:
            matched = _match_size(fa, s.text, measurements)
            if fa.size_text and not matched and FLAG_SIZE_UNMATCHED not in flags:
                flags.append(FLAG_SIZE_UNMATCHED)
            findings.append(
                Finding(
                    phrase=fa.phrase,
                    polarity=Polarity(fa.polarity),
                    nodes=finding_nodes(fa.phrase, nodes),
                    measurements=matched,
                    attributes=tuple(dict.fromkeys(" ".join(a.split()).lower() for a in fa.attributes if a.strip())),
                )
            )
        confidence = 1.0 if set(nodes) == set(s.nodes) else DISAGREE_CONFIDENCE
        self.stats.add("answered")
        return dataclasses.replace(
            s,
            nodes=nodes,
            grounding_confidence=confidence,
            findings=findings,
            measurements=measurements,
            flags=tuple(flags),
            backend="llm",
        )


def _match_size(fa: FindingAnswer, text: str, measurements: Sequence[Measurement]) -> tuple[Measurement, ...]:
    """The sentence's measurements the model's ``size_text`` refers to (by span, else by value)."""
    if not fa.size_text or not measurements:
        return ()
    size = _norm(fa.size_text).lower()
    low = text.lower()
    # locate the size as written (whitespace-insensitive) and take the measurements overlapping it
    pos = low.find(size)
    if pos < 0:
        pos = _norm(low).find(size)
        if pos >= 0:  # map back through the whitespace normalisation
            pos = _denorm_offset(low, pos)
    if pos >= 0:
        end = pos + len(size)
        hit = tuple(m for m in measurements if m.start < end and pos < m.end)
        if hit:
            return hit
    wanted = {round(v, 3) for m in parse_measurements(fa.size_text) for v in m.values_mm}
    if not wanted:
        return ()
    return tuple(m for m in measurements if {round(v, 3) for v in m.values_mm} <= wanted)


def _denorm_offset(text: str, norm_pos: int) -> int:
    """Offset in ``text`` of character ``norm_pos`` of ``_norm(text)``."""
    count = 0
    prev_space = True  # leading whitespace is dropped by _norm
    for i, ch in enumerate(text):
        if ch.isspace():
            if not prev_space:
                if count == norm_pos:
                    return i
                count += 1
            prev_space = True
            continue
        if count == norm_pos:
            return i
        count += 1
        prev_space = False
    return -1

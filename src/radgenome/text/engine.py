"""The rule-based text backend: report -> sentences -> regions -> findings -> disorders and labels."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from radgenome import __version__
from radgenome.anatomy import Hierarchy, load_hierarchy, sentence_paths
from radgenome.model import Finding, Measurement, Report, ReportAnalysis, Section, Sentence
from radgenome.text.base import OK, Progress, RunVerdict, TextFailure, analyze_each
from radgenome.text.disorders import case_disorders
from radgenome.text.findings import extract_findings
from radgenome.text.grounding import Grounding, ground_analysis, ground_sentence
from radgenome.text.labels import LABELS, sentence_labels
from radgenome.text.sections import split_sections
from radgenome.text.sentences import split_sentences

RULES_VERSION = "2"
"""Bumped whenever the rules or their data files change what they produce."""

_GROUNDED = (Section.FINDINGS, Section.IMPRESSIONS)


def clear_caches() -> None:
    """Forget the per-sentence caches (for honest cold-start measurements)."""
    from radgenome.text import findings, grounding

    grounding.ground_analysis.cache_clear()
    findings.extract_findings.cache_clear()
    _sentence_findings.cache_clear()


class RulesBackend:
    """Deterministic, offline text engine (the default backend; see :class:`radgenome.text.base.TextBackend`)."""

    name = "rules"
    batch_size: int | None = None
    """Cheap and process-local: a build runs it in every worker."""

    @property
    def version(self) -> str:
        return f"{__version__}+rules.{RULES_VERSION}"

    def provenance(self) -> dict[str, str]:
        return {"backend": self.name, "version": self.version}

    def analyze_many(
        self, reports: Sequence[Report], progress: Progress | None = None
    ) -> list[ReportAnalysis | TextFailure]:
        return analyze_each(self.analyze, reports, progress, self.name)

    def run_stats(self) -> dict[str, float]:
        return {}

    def verdict(self) -> RunVerdict:
        return OK

    def set_log(self, path: Path | None, *, append: bool = False) -> None:
        """The rules keep no per-sentence log."""

    def close(self) -> None:
        """Nothing to release."""

    def analyze(self, report: Report) -> ReportAnalysis:
        sentences: list[Sentence] = []
        index = 0
        for section, text, offset in split_sections(report):
            previous: Grounding | None = None
            previous_paths: tuple[str, ...] = ()
            for span in split_sentences(text):
                sent = Sentence(
                    volume=report.volume,
                    section=section,
                    index=index,
                    text=span.text,
                    start=offset + span.start,
                    end=offset + span.end,
                    marker=span.marker,
                    backend=self.name,
                )
                index += 1
                if section in _GROUNDED:
                    grounding = ground_sentence(span.text, previous)
                    previous = grounding
                    sent.nodes = grounding.nodes
                    # a continuation keeps the paths its antecedent chose ("The abdominal aorta is ectatic. It ...")
                    inherited = grounding.source == "context" and previous_paths
                    sent.node_paths = previous_paths if inherited else sentence_paths(grounding.nodes, span.text)
                    previous_paths = sent.node_paths
                    sent.grounding_confidence = grounding.confidence
                    if grounding.source in ("context", "others"):
                        sent.flags = (f"grounded_by_{grounding.source}",)
                    sent.measurements, findings = _sentence_findings(span.text, grounding.nodes)
                    sent.findings = list(findings)
                sentences.append(sent)
        return ReportAnalysis(
            report=report,
            sentences=sentences,
            disorders=case_disorders(sentences),
            labels=_labels(sentences),
            backend=self.name,
            version=self.version,
        )


def _labels(sentences: list[Sentence]) -> dict[str, int]:
    """CT-RATE's 18 labels from the findings and impression sentences (as ``labels.extract_labels`` does,
    without splitting the text a second time)."""
    found: set[str] = set()
    for sent in sentences:
        if sent.section in _GROUNDED:
            found |= sentence_labels(sent.text)
    return {label: int(label in found) for label in LABELS}


@lru_cache(maxsize=200_000)
def _sentence_findings(
    text: str, nodes: tuple[str, ...]
) -> tuple[tuple[Measurement, ...], tuple[Finding, ...]]:
    """Measurements and node-assigned findings of a sentence (cached on its text and nodes; findings are
    never mutated in place, so sentences may share them)."""
    extracted = extract_findings(text)
    return extracted.measurements, tuple(_with_nodes(f, nodes) for f in extracted.findings)


def _with_nodes(finding: Finding, sentence_nodes: tuple[str, ...]) -> Finding:
    """A finding's nodes: the sentence's, narrowed to the organ its own words name when the sentence spans
    several regions ("no pleural or pericardial effusion": "pericardial effusion" -> heart)."""
    return Finding(
        phrase=finding.phrase,
        polarity=finding.polarity,
        nodes=finding_nodes(finding.phrase, sentence_nodes),
        measurements=finding.measurements,
        attributes=finding.attributes,
    )


def finding_nodes(phrase: str, sentence_nodes: tuple[str, ...]) -> tuple[str, ...]:
    if len(sentence_nodes) < 2:
        return sentence_nodes
    return _narrowed_nodes(phrase, sentence_nodes)


@lru_cache(maxsize=100_000)
def _narrowed_nodes(phrase: str, sentence_nodes: tuple[str, ...]) -> tuple[str, ...]:
    h = load_hierarchy()
    named = ground_analysis(phrase.replace("subpleural", "")).anatomy
    if not named:
        return sentence_nodes
    named_regions = {r for n in named for r in _regions(h, n)}
    narrowed = tuple(n for n in sentence_nodes if named_regions & set(_regions(h, n)))
    return narrowed or sentence_nodes


def _regions(h: Hierarchy, node: str) -> tuple[str, ...]:
    if node in h:
        return h.top_regions(node)
    return (node,)

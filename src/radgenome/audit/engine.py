"""The one adapter between the audit and the rest of radgenome (text engine, reports reader, region hierarchy).

Every import of the text engine, the corpus reader, the anatomy DAG and the dataset's path expansion lives in
this module; the rest of the audit works on the small types below. When the package layout changes (shared
types moving to ``radgenome.model``, a public ``radgenome.analyze_report``), only this file follows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from radgenome.anatomy import TOP_LEVEL_REGIONS, UnknownNodeError, load_hierarchy
from radgenome.audit.model import Polarity
from radgenome.corpus.metadata import volume_stem
from radgenome.corpus.reports import ReportTableError, read_reports
from radgenome.dataset.tables import path_contents
from radgenome.model import Finding, Measurement, Report, ReportAnalysis, Section
from radgenome.text import negation
from radgenome.text.engine import RulesBackend, finding_nodes
from radgenome.text.grounding import ground_analysis
from radgenome.text.measure import parse_measurements
from radgenome.text.sentences import split_sentences as _split_sentences

__all__ = [
    "AuditReport",
    "EngineInfo",
    "PathStatement",
    "ReportSentence",
    "ReportTableError",
    "ReportView",
    "Size",
    "StatedPhrase",
    "analyse",
    "engine_info",
    "expand_paths",
    "has_negation",
    "is_known_path",
    "load_reports",
    "mention_polarity",
    "named_regions",
    "node_regions",
    "node_side",
    "normalise_volume",
    "parse_sizes",
    "path_side",
    "phrase_nodes",
    "region_of_path",
    "split_sentences",
]

SIDES = ("left", "right")


# ---------------------------------------------------------------------------------------------- types
@dataclass(frozen=True, slots=True)
class Size:
    text: str
    values_mm: tuple[float, ...]
    largest_mm: float
    unit: str


@dataclass(frozen=True, slots=True)
class ReportSentence:
    section: str
    """``findings`` or ``impressions``."""
    index: int
    text: str
    nodes: tuple[str, ...]
    grounded_by: str
    """``anatomy`` (named or implied by a finding), ``context`` (the sentence before) or ``others``."""
    sizes: tuple[Size, ...] = ()
    blocked: frozenset[tuple[str, str]] = frozenset()
    """(node, region) pairs that do not count in this sentence: a node the DAG puts under two regions backs the
    second region's rows only when the sentence names that region (the thoracic aorta backs
    ``abdomen/abdomen/aorta``, RadGenome's aorta mask, but not ``abdomen``)."""


@dataclass(frozen=True, slots=True)
class StatedPhrase:
    phrase: str
    sentence: int
    """Index of the sentence (in :attr:`ReportView.sentences` order) that states it."""


@dataclass(frozen=True, slots=True)
class PathStatement:
    """What the engine says one RadGenome path of a report holds (the engine's own table rows)."""

    path: str
    present: tuple[StatedPhrase, ...] = ()
    absent: tuple[StatedPhrase, ...] = ()
    uncertain: tuple[StatedPhrase, ...] = ()
    has_sentences: bool = False


@dataclass(frozen=True, slots=True)
class AuditReport:
    """One report of the reports table (the engine's report object stays opaque)."""

    volume: str
    findings: str
    impressions: str
    _report: Report = field(repr=False, compare=False)

    @property
    def has_findings(self) -> bool:
        return bool(self.findings.strip())


@dataclass(slots=True)
class ReportView:
    """A report as the audit sees it: grounded sentences with sizes, and per-path statements."""

    volume: str
    findings: str
    impressions: str
    sentences: tuple[ReportSentence, ...]
    paths: dict[str, PathStatement]

    @property
    def has_findings(self) -> bool:
        return bool(self.findings.strip())


@dataclass(frozen=True, slots=True)
class EngineInfo:
    backend: str
    version: str


# ---------------------------------------------------------------------------------------------- reports
def normalise_volume(name: str) -> str:
    """``train_1_a_1.nii.gz`` -> ``train_1_a_1`` (the key both tables are matched on)."""
    return volume_stem(name.strip())


def load_reports(path: Path) -> tuple[dict[str, AuditReport], list[tuple[int, str]]]:
    """Reports by normalised volume name, and (row, message) of the rows the reader could not use.

    Raises :class:`ReportTableError` when the table as a whole cannot be read.
    """
    reports, errors = read_reports(Path(path))
    out: dict[str, AuditReport] = {}
    for r in reports:
        out.setdefault(normalise_volume(r.volume), AuditReport(r.volume, r.findings, r.impressions, r))
    return out, [(e.row, f"{e.volume + ': ' if e.volume else ''}{e.message}") for e in errors]


@cache
def _backend() -> RulesBackend:
    return RulesBackend()


def engine_info() -> EngineInfo:
    b = _backend()
    return EngineInfo(b.name, b.version)


_SECTIONS = {Section.FINDINGS: "findings", Section.IMPRESSIONS: "impressions"}


def analyse(report: AuditReport) -> ReportView:
    """Run the text engine on one report."""
    analysis = _backend().analyze(report._report)
    sentences: list[ReportSentence] = []
    position: dict[int, int] = {}
    for sent in analysis.sentences:
        section = _SECTIONS.get(sent.section)
        if section is None:
            continue
        position[id(sent)] = len(sentences)
        grounded_by = "anatomy"
        for flag in sent.flags:
            if flag.startswith("grounded_by_"):
                grounded_by = flag.removeprefix("grounded_by_")
        nodes = tuple(sent.nodes)
        sentences.append(
            ReportSentence(section, len(sentences), sent.text, nodes, grounded_by,
                           tuple(_size(m) for m in sent.measurements), blocked_regions(sent.text, nodes))
        )
    return ReportView(
        volume=report.volume,
        findings=report.findings,
        impressions=report.impressions,
        sentences=tuple(sentences),
        paths=_path_statements(analysis, position),
    )


def _path_statements(analysis: ReportAnalysis, position: dict[int, int]) -> dict[str, PathStatement]:
    """The engine's per-path contents, without the paths a sentence's blocked (node, region) pairs produce."""
    owner: dict[int, int] = {}
    allowed: dict[int, frozenset[str]] = {}
    for sent in analysis.sentences:
        blocked = blocked_regions(sent.text, tuple(sent.nodes))
        allowed[id(sent)] = allowed_paths(sent.nodes, blocked)
        for f in sent.findings:
            owner[id(f)] = position.get(id(sent), -1)
            allowed[id(f)] = allowed_paths(f.nodes or sent.nodes, blocked)
    out: dict[str, PathStatement] = {}
    for path, content in path_contents(analysis, load_hierarchy()).items():

        def keep(findings: Iterable[Finding], path: str = path) -> tuple[StatedPhrase, ...]:
            return tuple(StatedPhrase(f.phrase, owner.get(id(f), -1)) for f in findings
                         if path in allowed.get(id(f), frozenset((path,))))

        present = keep(content.present)
        uncertain = keep(f for f in content.stated if not _is_present(f.polarity))
        absent = keep(content.absent)
        has_sentences = any(path in allowed.get(id(s), frozenset((path,))) for s in content.sentences)
        if present or uncertain or absent or has_sentences:
            out[path] = PathStatement(path, present, absent, uncertain, has_sentences)
    return out


def _is_present(polarity: object) -> bool:
    return str(polarity) == Polarity.PRESENT.value


# ---------------------------------------------------------------------------------------------- text pieces
def split_sentences(text: str) -> list[str]:
    return [s.text for s in _split_sentences(text)]


_RUN_ON = re.compile(r"(?<=[a-z)])\.\s+(?=\S)")
"""A period and a space inside one engine sentence (``... was detected. 3 mm calculus ...``): the sentence
splitter keeps them together when a digit follows, so the audit reads polarity within the piece."""


def _piece(sentence: str, pos: int) -> tuple[str, int]:
    start = 0
    for m in _RUN_ON.finditer(sentence):
        if m.end() > pos:
            return sentence[start : m.start() + 1], start
        start = m.end()
    return sentence[start:], start


def mention_polarity(sentence: str, starts: Iterable[int], head: int | None = None) -> Polarity:
    """Polarity of a mention whose words start at ``starts`` (the engine's NegEx scopes), read at its head word
    when known, else at every word (words in different scopes make it :attr:`Polarity.UNCERTAIN`).

    A negation in a sentence that also carries an uncertainty cue, or one of the audit's ``distrusted``
    negations (``not typical``, ``not specific``), is read as uncertain, and so is an assertion in a sentence
    with one of the audit's ``hedges`` (``thought to be``, ``less likely``): the engine's scopes are not
    reliable enough there to remove or confirm a row on their word.
    """
    starts = list(starts)
    anchor = head if head is not None else (starts[0] if starts else 0)
    piece, offset = _piece(sentence, anchor)
    points = [head - offset] if head is not None else [s - offset for s in starts if 0 <= s - offset < len(piece)]
    found = {Polarity(str(negation.polarity_of(piece, p, p + 1))) for p in points or [0]}
    if len(found) != 1:
        return Polarity.UNCERTAIN
    polarity = found.pop()
    if polarity is Polarity.ABSENT and (negation.uncertain_spans(piece) or _distrusted(piece)):
        return Polarity.UNCERTAIN
    if polarity is Polarity.PRESENT and _hedged(piece):
        return Polarity.UNCERTAIN
    return polarity


def has_negation(sentence: str) -> bool:
    """Whether any negation cue governs part of ``sentence``."""
    return bool(negation.negated_spans(sentence))


def _hedged(text: str) -> bool:
    from radgenome.audit.vocab import rules_data

    return rules_data().hedges.search(text.lower()) is not None


def _distrusted(text: str) -> bool:
    from radgenome.audit.vocab import rules_data

    return rules_data().distrusted_negation.search(text.lower()) is not None


@lru_cache(maxsize=65536)
def phrase_nodes(phrase: str, sentence_nodes: tuple[str, ...]) -> tuple[str, ...]:
    """The sentence's nodes narrowed to the region the phrase's own words name (as the engine does for its
    findings); a parenchymal lung finding in a sentence that also names the pleura (``subpleural nodule``,
    ``pleural effusion and atelectasis in the adjacent lung``) -> the lung only."""
    nodes = finding_nodes(phrase, sentence_nodes)
    if len(nodes) < 2 or ground_analysis(phrase.replace("subpleural", "")).anatomy:
        return nodes
    from radgenome.audit.vocab import rules_data

    data = rules_data()
    words = set(re.findall(r"[a-z]+", phrase.lower()))
    if words & data.lung_words and any("lung" in node_regions(n) for n in nodes):
        kept = tuple(n for n in nodes if not set(node_regions(n)) <= data.landmark_regions)
        return kept or nodes
    return nodes


def _size(m: Measurement) -> Size:
    return Size(m.text, tuple(m.values_mm), m.largest_mm, m.unit)


def parse_sizes(text: str) -> tuple[Size, ...]:
    return tuple(_size(m) for m in parse_measurements(text))


# ---------------------------------------------------------------------------------------------- anatomy
def is_known_path(path: str) -> bool:
    try:
        load_hierarchy().node_of_path(path)
    except (UnknownNodeError, KeyError):
        return False
    return True


def region_of_path(path: str) -> str:
    return path.split("/", 1)[0]


@lru_cache(maxsize=65536)
def node_regions(node: str) -> tuple[str, ...]:
    h = load_hierarchy()
    if node in TOP_LEVEL_REGIONS and node not in h:
        return (node,)
    if node not in h:
        return ()
    return h.top_regions(node)


def node_side(node: str) -> str | None:
    words = node.split()
    for side in SIDES:
        if side in words:
            return side
    return None


def path_side(path: str) -> str | None:
    side = None
    for part in path.split("/"):
        side = node_side(part) or side
    return side


def expand_paths(nodes: Iterable[str]) -> frozenset[str]:
    """RadGenome paths of ``nodes`` and of all their ancestors (with the bare top-level region names)."""
    h = load_hierarchy()
    known = tuple(n for n in nodes if n in h or n in TOP_LEVEL_REGIONS)
    return frozenset(h.expand_paths(known))


@lru_cache(maxsize=65536)
def blocked_regions(text: str, nodes: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """(node, region) pairs of ``nodes`` that ``text`` does not back (see :attr:`ReportSentence.blocked`)."""
    from radgenome.audit.vocab import rules_data

    low = text.lower()
    return frozenset(
        (node, region) for node, region, mentioned, words in rules_data().needs_word
        if node in nodes and mentioned.search(low) and not words.search(low)
    )


@lru_cache(maxsize=65536)
def _allowed(nodes: tuple[str, ...], blocked: frozenset[tuple[str, str]]) -> frozenset[str]:
    out: set[str] = set()
    for node in nodes:
        paths = expand_paths((node,))
        regions = {r for n, r in blocked if n == node}
        if regions:
            # the node's own paths stay (``abdomen/abdomen/aorta`` is the aorta); the region rows above it go
            paths = frozenset(p for p in paths if p.split("/", 1)[0] not in regions or p.rsplit("/", 1)[-1] == node)
        out.update(paths)
    return frozenset(out)


def allowed_paths(nodes: Iterable[str], blocked: frozenset[tuple[str, str]] = frozenset()) -> frozenset[str]:
    """:func:`expand_paths` of ``nodes`` without the paths of blocked (node, region) pairs."""
    return _allowed(tuple(nodes), blocked)


@lru_cache(maxsize=65536)
def named_regions(text: str) -> tuple[str, ...]:
    """Top-level regions of the anatomy that ``text`` itself names (``pericardial effusion`` -> heart); a
    finding word that only implies a region does not count."""
    found: list[str] = []
    for node in ground_analysis(text).anatomy:
        found.extend(node_regions(node))
    return tuple(dict.fromkeys(found))

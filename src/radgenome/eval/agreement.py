"""Agreement between two ``radgenome text`` outputs (e.g. rules vs LLM), from their ``sentences.parquet``.

Sentences are matched by (volume, section, index) and must have the same text (otherwise they count as
unmatched). Only findings and impressions sentences are compared. Measured per matched sentence:

- **regions**: for each top-level region and for each node (a sentence's nodes plus their ancestors in the
  region hierarchy), whether each side grounds the sentence there → % agreement and Cohen's kappa;
- **findings**: the (phrase, polarity) sets → phrase overlap F1, polarity agreement on shared phrases (with a
  confusion table) and exact per-sentence agreement.

Every sentence where the finest node sets or the (phrase, polarity) sets differ goes to a review queue CSV
(``volume, section, index, text, nodes_a, nodes_b, findings_a, findings_b`` + ``disagreement, backend_a,
backend_b``; list cells are JSON), which the review app loads.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radgenome.anatomy import TOP_LEVEL_REGIONS, UnknownNodeError, load_hierarchy
from radgenome.csvcells import SafeDictWriter
from radgenome.model import OutputLayout

__all__ = [
    "QUEUE_COLUMNS",
    "AgreementReport",
    "BinaryAgreement",
    "SentenceRow",
    "cohen_kappa",
    "compare",
    "read_sentences",
    "write_queue",
]

QUEUE_COLUMNS = (
    "volume",
    "section",
    "index",
    "text",
    "nodes_a",
    "nodes_b",
    "findings_a",
    "findings_b",
    "disagreement",
    "backend_a",
    "backend_b",
)
COMPARED_SECTIONS = frozenset({"findings", "impressions"})
POLARITIES = ("present", "absent", "uncertain")

Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class SentenceRow:
    volume: str
    section: str
    index: int
    text: str
    nodes: tuple[str, ...]
    findings: tuple[tuple[str, str], ...]
    """(phrase, polarity) pairs, in the output's order."""
    backend: str = ""

    @property
    def key(self) -> Key:
        return (self.volume, self.section, self.index)


def read_sentences(path: Path) -> dict[Key, SentenceRow]:
    """The sentences of a ``text`` output folder (or of a ``sentences.parquet`` file), keyed by position."""
    import pyarrow.parquet as pq

    file = OutputLayout(path).sentences if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file}: no sentences.parquet (is this a `radgenome text` output folder?)")
    table = pq.read_table(file)
    cols = set(table.column_names)
    missing = {"volume", "section", "index", "text", "nodes"} - cols
    if missing:
        raise ValueError(f"{file}: missing columns {sorted(missing)}")
    rows: dict[Key, SentenceRow] = {}
    for rec in table.to_pylist():
        findings: list[tuple[str, str]] = []
        for f in rec.get("findings") or ():
            if f and f.get("phrase"):
                findings.append((" ".join(str(f["phrase"]).lower().split()), str(f.get("polarity") or "")))
        row = SentenceRow(
            volume=str(rec["volume"]),
            section=str(rec["section"]),
            index=int(rec["index"]),
            text=str(rec["text"] or ""),
            nodes=tuple(str(n) for n in rec.get("nodes") or ()),
            findings=tuple(findings),
            backend=str(rec.get("backend") or ""),
        )
        rows[row.key] = row
    return rows


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa of two binary ratings (NaN when undefined: both raters constant and equal)."""
    n = len(a)
    if n != len(b):
        raise ValueError("ratings of different length")
    if n == 0:
        return math.nan
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    neither = sum(1 for x, y in zip(a, b, strict=True) if not x and not y)
    pa, pb = sum(a) / n, sum(b) / n
    po = (both + neither) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0:
        return math.nan
    return (po - pe) / (1 - pe)


@dataclass
class BinaryAgreement:
    """Agreement on one label (a region or a node) over the matched sentences."""

    label: str
    both: int = 0
    only_a: int = 0
    only_b: int = 0
    neither: int = 0

    @property
    def n(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither

    @property
    def percent(self) -> float:
        return 100.0 * (self.both + self.neither) / self.n if self.n else math.nan

    @property
    def kappa(self) -> float:
        a = [True] * self.both + [True] * self.only_a + [False] * self.only_b + [False] * self.neither
        b = [True] * self.both + [False] * self.only_a + [True] * self.only_b + [False] * self.neither
        return cohen_kappa(a, b)

    def add(self, in_a: bool, in_b: bool) -> None:
        if in_a and in_b:
            self.both += 1
        elif in_a:
            self.only_a += 1
        elif in_b:
            self.only_b += 1
        else:
            self.neither += 1


@dataclass
class AgreementReport:
    matched: int = 0
    only_a: int = 0
    only_b: int = 0
    text_differs: int = 0
    regions: dict[str, BinaryAgreement] = field(default_factory=dict)
    nodes: dict[str, BinaryAgreement] = field(default_factory=dict)
    exact_nodes: int = 0
    """Sentences whose finest node sets are equal."""
    exact_findings: int = 0
    """Sentences whose (phrase, polarity) sets are equal."""
    phrases_both: int = 0
    phrases_only_a: int = 0
    phrases_only_b: int = 0
    polarity: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(polarity in A, polarity in B) over phrases both sides found."""
    queue: list[dict[str, Any]] = field(default_factory=list)

    @property
    def phrase_f1(self) -> float:
        denom = 2 * self.phrases_both + self.phrases_only_a + self.phrases_only_b
        return 2 * self.phrases_both / denom if denom else math.nan

    @property
    def polarity_agreement(self) -> float:
        total = sum(self.polarity.values())
        same = sum(v for (pa, pb), v in self.polarity.items() if pa == pb)
        return same / total if total else math.nan


def _expand(nodes: Iterable[str]) -> tuple[set[str], set[str]]:
    """(nodes with ancestors, top-level regions) of a sentence's nodes; unknown names are kept as they are."""
    h = load_hierarchy()
    expanded: set[str] = set()
    regions: set[str] = set()
    for node in nodes:
        if node in TOP_LEVEL_REGIONS and node not in h.nodes:
            regions.add(node)
            expanded.add(node)
            continue
        expanded.add(node)
        try:
            expanded |= h.ancestors(node)
            regions.update(h.top_regions(node))
        except UnknownNodeError:
            regions.add("unknown")
    return expanded, regions


def _polarity_map(findings: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for phrase, pol in findings:
        out.setdefault(phrase, set()).add(pol)
    return {k: frozenset(v) for k, v in out.items()}


def _queue_row(ra: SentenceRow | None, rb: SentenceRow | None, kind: str) -> dict[str, Any]:
    ref = ra or rb
    assert ref is not None

    def fj(r: SentenceRow | None) -> str:
        return json.dumps([{"phrase": p, "polarity": q} for p, q in r.findings] if r else [], ensure_ascii=False)

    return {
        "volume": ref.volume,
        "section": ref.section,
        "index": ref.index,
        "text": ref.text,
        "nodes_a": json.dumps(list(ra.nodes) if ra else [], ensure_ascii=False),
        "nodes_b": json.dumps(list(rb.nodes) if rb else [], ensure_ascii=False),
        "findings_a": fj(ra),
        "findings_b": fj(rb),
        "disagreement": kind,
        "backend_a": ra.backend if ra else "",
        "backend_b": rb.backend if rb else "",
    }


def compare(a: dict[Key, SentenceRow], b: dict[Key, SentenceRow]) -> AgreementReport:
    """Agreement of B with A over their findings/impressions sentences."""
    rep = AgreementReport()
    regions = {r: BinaryAgreement(r) for r in TOP_LEVEL_REGIONS}
    node_labels: set[str] = set()
    pairs: list[tuple[SentenceRow, SentenceRow, set[str], set[str]]] = []
    keys = sorted(
        {k for k in (*a, *b) if k[1] in COMPARED_SECTIONS},
        key=lambda k: (k[0], k[2], k[1]),
    )
    for key in keys:
        ra, rb = a.get(key), b.get(key)
        if ra is None or rb is None:
            if ra is None:
                rep.only_b += 1
                rep.queue.append(_queue_row(None, rb, "only_b"))
            else:
                rep.only_a += 1
                rep.queue.append(_queue_row(ra, None, "only_a"))
            continue
        if " ".join(ra.text.split()) != " ".join(rb.text.split()):
            rep.text_differs += 1
            rep.queue.append(_queue_row(ra, rb, "text_differs"))
            continue
        rep.matched += 1
        ea, reg_a = _expand(ra.nodes)
        eb, reg_b = _expand(rb.nodes)
        for region, agg in regions.items():
            agg.add(region in reg_a, region in reg_b)
        node_labels |= ea | eb
        pairs.append((ra, rb, ea, eb))

        same_nodes = set(ra.nodes) == set(rb.nodes)
        rep.exact_nodes += same_nodes
        fa, fb = set(ra.findings), set(rb.findings)
        same_findings = fa == fb
        rep.exact_findings += same_findings
        pa, pb = _polarity_map(ra.findings), _polarity_map(rb.findings)
        shared = pa.keys() & pb.keys()
        rep.phrases_both += len(shared)
        rep.phrases_only_a += len(pa.keys() - shared)
        rep.phrases_only_b += len(pb.keys() - shared)
        for phrase in shared:
            for pol_a in pa[phrase]:
                pol_b = pol_a if pol_a in pb[phrase] else sorted(pb[phrase])[0]
                rep.polarity[(pol_a, pol_b)] += 1
        if not (same_nodes and same_findings):
            kind = (
                "nodes+findings" if not same_nodes and not same_findings else "nodes" if not same_nodes else "findings"
            )
            rep.queue.append(_queue_row(ra, rb, kind))

    rep.regions = regions
    nodes = {n: BinaryAgreement(n) for n in sorted(node_labels)}
    for _ra, _rb, ea, eb in pairs:
        for n in ea | eb:
            nodes[n].add(n in ea, n in eb)
    for agg in nodes.values():  # sentences grounded to neither side
        agg.neither = rep.matched - agg.both - agg.only_a - agg.only_b
    rep.nodes = nodes
    return rep


def write_queue(rows: Sequence[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = SafeDictWriter(fh, fieldnames=list(QUEUE_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)

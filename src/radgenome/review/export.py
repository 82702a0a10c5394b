"""``radgenome export-verified``: RadGenome-layout tables holding only what reviewers accepted or corrected.

The verdict of an item is, in order: the latest decision of an admin (adjudication); else the decision all its
reviewers agree on (same verdict and same correction); items whose reviewers disagree, rejected items and items
nobody decided are left out. Corrections are applied: an edited sentence replaces the text (its findings are
extracted again from the new text) and a changed region replaces the node. The RadGenome tables are written by
:func:`radgenome.dataset.tables.write_radgenome_tables` from the verified sentences; the whole-findings row,
case disorders and abnormality labels are kept for every volume with at least one verified item. Verified QA
pairs go to ``qa_pairs.csv`` (corrected answers and regions applied) and every decision behind an exported item
to ``provenance.csv``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from radgenome.dataset.tables import write_csv_atomic, write_radgenome_tables
from radgenome.model import CaseRecord, Finding, ReportAnalysis, Sentence
from radgenome.review.queue import active_decisions, signature
from radgenome.review.sources import load_records, node_path
from radgenome.review.store import Decision, Item, Store, User
from radgenome.text.engine import finding_nodes
from radgenome.text.findings import extract_findings

PROVENANCE_COLUMNS = (
    "item_id", "kind", "qa_kind", "volume", "sentence_index", "original_region", "original_text", "reviewer",
    "role", "time", "decision", "change", "region", "text", "mask_wrong", "comment", "adopted",
)
QA_COLUMNS = ("item_id", "volume", "split", "kind", "question", "answer", "path", "node", "sentence_indices",
              "corrected")


@dataclass(frozen=True)
class Verdict:
    item: Item
    decision: Decision
    """The adopted decision."""
    contributors: list[tuple[Decision, User]]


@dataclass
class ExportSummary:
    exported: int = 0
    rejected: int = 0
    undecided: int = 0
    disagreements: int = 0
    qa_pairs: int = 0
    files: list[str] | None = None


def final_verdicts(s: Session) -> tuple[dict[str, Verdict], ExportSummary]:
    users = {u.id: u for u in s.scalars(select(User))}
    by_item: dict[str, list[Decision]] = defaultdict(list)
    for (item_id, _user), d in active_decisions(s).items():
        by_item[item_id].append(d)
    summary = ExportSummary()
    verdicts: dict[str, Verdict] = {}
    for item in s.scalars(select(Item).order_by(Item.order)):
        ds = sorted(by_item.get(item.id, []), key=lambda d: d.id)
        if not ds:
            summary.undecided += 1
            continue
        admins = [d for d in ds if users[d.user_id].role == "admin"]
        if admins:
            adopted = admins[-1]
        elif len({signature(d) for d in ds}) == 1:
            adopted = ds[-1]
        else:
            summary.disagreements += 1
            continue
        if adopted.verdict == "reject":
            summary.rejected += 1
            continue
        verdicts[item.id] = Verdict(item, adopted, [(d, users[d.user_id]) for d in ds])
    return verdicts, summary


def _remap_findings(findings: Iterable[Finding], mapping: dict[str, str]) -> list[Finding]:
    out = []
    for f in findings:
        nodes = tuple(dict.fromkeys(mapping[n] for n in f.nodes if n in mapping))
        if nodes:
            out.append(replace(f, nodes=nodes))
    return out


def _fresh_findings(text: str, nodes: tuple[str, ...]) -> list[Finding]:
    extracted = extract_findings(text)
    return [replace(f, nodes=finding_nodes(f.phrase, nodes)) for f in extracted.findings]


def verified_analysis(rec: CaseRecord, verdicts: dict[str, Verdict]) -> ReportAnalysis | None:
    """The case's analysis reduced to its verified sentence items, corrections applied; None if none."""
    analysis = rec.analysis
    mine = [v for v in verdicts.values() if v.item.kind == "sentence" and v.item.volume == rec.volume]
    if not mine:
        return None
    by_sentence: dict[int, list[Verdict]] = defaultdict(list)
    for v in mine:
        by_sentence[int(v.item.sentence_index or 0)].append(v)
    sentences: list[Sentence] = []
    for sent in analysis.sentences:
        chosen = by_sentence.get(sent.index)
        if chosen is None:
            if not sent.nodes:
                sentences.append(sent)  # ungrounded sections (clinical, technique) stay as they were
            continue
        groups: dict[str, dict[str, str]] = defaultdict(dict)
        for v in chosen:
            text = v.decision.text or sent.text
            groups[text][v.item.node] = v.decision.node or v.item.node
        for text, mapping in groups.items():
            nodes = tuple(dict.fromkeys(mapping.values()))
            same = text == sent.text
            findings = _remap_findings(sent.findings, mapping) if same else _fresh_findings(text, nodes)
            measurements = sent.measurements if text == sent.text else extract_findings(text).measurements
            sentences.append(replace(sent, text=text, nodes=nodes, findings=findings, measurements=measurements))
    return replace(analysis, sentences=sentences)


def _change(item: Item, d: Decision) -> str:
    parts = []
    if d.text is not None:
        parts.append(f"text: {(item.answer if item.kind == 'qa' else item.text)!r} -> {d.text!r}")
    if d.node is not None:
        parts.append(f"region: {item.node} -> {d.node}")
    if d.mask_wrong:
        parts.append("mask flagged wrong")
    return "; ".join(parts)


def provenance_rows(verdicts: dict[str, Verdict]) -> list[tuple[Any, ...]]:
    rows = []
    for v in verdicts.values():
        it = v.item
        for d, user in v.contributors:
            rows.append((
                it.id, it.kind, it.qa_kind, it.volume, "" if it.sentence_index is None else it.sentence_index,
                it.path, it.answer if it.kind == "qa" else it.text, user.name, user.role,
                d.created_at.isoformat() + "Z", d.verdict, _change(it, d), d.node or it.node,
                d.text or (it.answer if it.kind == "qa" else it.text), int(d.mask_wrong), d.comment,
                int(d.id == v.decision.id),
            ))
    return rows


def qa_rows(verdicts: dict[str, Verdict]) -> list[tuple[Any, ...]]:
    rows = []
    for v in verdicts.values():
        it, d = v.item, v.decision
        if it.kind != "qa":
            continue
        node = d.node or it.node
        path = node_path(d.node)[0] if d.node else it.path
        rows.append((it.id, it.volume, it.split, it.qa_kind, it.text, d.text or it.answer, path, node,
                     it.sentence_indices, int(d.verdict == "correct")))
    return rows


def export_verified(out: Path, db_url: str, dest: Path, default_split: str = "train") -> ExportSummary:
    store = Store(db_url)
    records = load_records(out)
    with store.session() as s:
        verdicts, summary = final_verdicts(s)
    analyses = [a for rec in records.values() if (a := verified_analysis(rec, verdicts)) is not None]
    dest = Path(dest)
    files = write_radgenome_tables(analyses, dest / "radgenome_files", default_split)
    qa = qa_rows(verdicts)
    write_csv_atomic(dest / "qa_pairs.csv", QA_COLUMNS, qa)
    write_csv_atomic(dest / "provenance.csv", PROVENANCE_COLUMNS, provenance_rows(verdicts))
    summary.exported = len(verdicts)
    summary.qa_pairs = len(qa)
    summary.files = sorted([*(f"radgenome_files/{n}" for n in files), "qa_pairs.csv", "provenance.csv"])
    return summary

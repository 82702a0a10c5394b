"""``radgenome export-verified``: RadGenome-layout tables holding only what reviewers accepted or corrected.

The verdict of an item is, in order: the admin's adjudication, if any; else, once every reader the item needs
has decided, the decision they all agree on (same verdict and same correction). Items whose readers disagree
(not adjudicated), items still missing a read, rejected items and items nobody decided are left out and
counted. Corrections are applied: an edited sentence replaces the text (its findings are extracted again from
the new text) and a changed region replaces the node. The RadGenome tables are written by
:func:`radgenome.dataset.tables.write_radgenome_tables` from the verified sentences; the whole-findings row,
case disorders and abnormality labels are kept for every volume with at least one verified item. Verified QA
pairs go to ``qa_pairs.csv`` (corrected answers and regions applied) and every decision behind an exported item
to ``provenance.csv``; both are written through :mod:`radgenome.csvcells` (no cell starts like a formula).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from radgenome.atomic import atomic_path
from radgenome.csvcells import SafeWriter
from radgenome.dataset.tables import write_radgenome_tables
from radgenome.model import CaseRecord, Finding, ReportAnalysis, Sentence
from radgenome.review.decisions import signature
from radgenome.review.sources import CaseIndex
from radgenome.review.store import Assignment, Decision, Item, Store, User
from radgenome.text.engine import finding_nodes
from radgenome.text.findings import extract_findings

PROVENANCE_COLUMNS = (
    "item_id", "kind", "qa_kind", "volume", "sentence_index", "original_region", "original_text", "reviewer",
    "role", "time", "decision", "adjudication", "change", "region", "text", "mask_wrong", "comment", "adopted",
)
QA_COLUMNS = ("item_id", "qa_id", "volume", "split", "kind", "question", "answer", "path", "node",
              "sentence_indices", "corrected")


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
    incomplete: int = 0
    """Items with some but not all of their reads."""
    disagreements: int = 0
    qa_pairs: int = 0
    files: list[str] = field(default_factory=list)


def final_verdicts(s: Session) -> tuple[dict[str, Verdict], ExportSummary]:
    users = {u.id: u for u in s.scalars(select(User))}
    reads: dict[str, list[Decision]] = defaultdict(list)
    for d in s.scalars(select(Decision).join(Assignment, Assignment.decision_id == Decision.id)):
        reads[d.item_id].append(d)
    adjudications = {d.item_id: d for d in s.scalars(
        select(Decision).join(Item, Item.adjudication_id == Decision.id))}
    summary = ExportSummary()
    verdicts: dict[str, Verdict] = {}
    for item in s.scalars(select(Item).order_by(Item.order)):
        ds = sorted(reads.get(item.id, []), key=lambda d: d.id)
        adjudication = adjudications.get(item.id)
        if adjudication is not None:
            adopted = adjudication
            ds = [*ds, adjudication]
        elif not ds:
            summary.undecided += 1
            continue
        elif len(ds) < item.required:
            summary.incomplete += 1
            continue
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


def verified_analysis(rec: CaseRecord, mine: Sequence[Verdict]) -> ReportAnalysis | None:
    """The case's analysis reduced to its verified sentence items (``mine``), corrections applied; None if none."""
    if not mine:
        return None
    analysis = rec.analysis
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
        for v in chosen:  # a node stays when any of its recorded paths was verified
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
    if d.path is not None:
        parts.append(f"region: {item.path} -> {d.path}")
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
                d.created_at.isoformat() + "Z", d.verdict, int(d.adjudication), _change(it, d), d.path or it.path,
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
        rows.append((it.id, it.source_id, it.volume, it.split, it.qa_kind, it.text, d.text or it.answer,
                     d.path or it.path, d.node or it.node, it.sentence_indices, int(d.verdict == "correct")))
    return rows


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV written atomically, every cell escaped (:class:`radgenome.csvcells.SafeWriter`)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = SafeWriter(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def export_verified(out: Path, db_url: str | Store, dest: Path, default_split: str = "train") -> ExportSummary:
    """Write the verified tables of build ``out`` (decisions in the store ``db_url``) under ``dest``."""
    store = db_url if isinstance(db_url, Store) else Store(db_url)
    cases = CaseIndex(out)
    with store.read() as s:
        verdicts, summary = final_verdicts(s)
    by_stem: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts.values():
        if v.item.kind == "sentence":
            by_stem[v.item.stem].append(v)
    analyses = [a for stem in sorted(by_stem) if (a := verified_analysis(cases.record(stem), by_stem[stem]))]
    dest = Path(dest)
    files = write_radgenome_tables(analyses, dest / "radgenome_files", default_split)
    qa = qa_rows(verdicts)
    write_csv(dest / "qa_pairs.csv", QA_COLUMNS, qa)
    write_csv(dest / "provenance.csv", PROVENANCE_COLUMNS, provenance_rows(verdicts))
    summary.exported = len(verdicts)
    summary.qa_pairs = len(qa)
    summary.files = sorted([*(f"radgenome_files/{n}" for n in files), "qa_pairs.csv", "provenance.csv"])
    return summary


def export_zip(out: Path, store: Store, default_split: str = "train") -> tuple[bytes, ExportSummary]:
    """The verified export as a zip archive (for the admin page's download)."""
    with tempfile.TemporaryDirectory(prefix="radgenome-verified-") as tmp:
        summary = export_verified(out, store, Path(tmp), default_split)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in summary.files:
                zf.write(Path(tmp) / name, f"verified/{name}")
    return buf.getvalue(), summary

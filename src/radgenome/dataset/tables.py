"""RadGenome-compatible tables (ARCHITECTURE §1.3) built from text analyses.

Rows are produced per volume in input order, and per volume in region-hierarchy order, so re-running on the
same input yields byte-identical files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from radgenome.anatomy import Hierarchy, expand_chosen, load_hierarchy, path_sort_key
from radgenome.atomic import atomic_path
from radgenome.csvcells import SafeWriter
from radgenome.model import Finding, OutputLayout, Polarity, ReportAnalysis, Section, Sentence
from radgenome.text.labels import LABELS

NO_FINDINGS = "no findings"

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "region_report": ("Volumename", "Anatomy", "Sentence"),
    "vqa_abnormality": ("Volumename", "Anatomy", "Abnormality"),
    "vqa_location": ("Volumename", "Anatomy", "Abnormality"),
    "vqa_presence": ("Volumename", "Anatomy", "Finding", "Presence"),
    "vqa_size": ("Volumename", "Anatomy", "Abnormality", "Size", "size_mm"),
    "case_disorders": ("Volumename", "Disorders"),
    "abnormality_labels": ("VolumeName", *LABELS),
}


def split_of(volume: str, default: str = "train") -> str:
    """``train`` for ``train_*``, ``validation`` for ``valid_*``, else ``default``."""
    if volume.startswith("train_"):
        return "train"
    if volume.startswith("valid_"):
        return "validation"
    return default


def grounded_sentences(analysis: ReportAnalysis) -> list[Sentence]:
    """The sentences that feed the region tables: the findings, or the impression when there are none."""
    findings = analysis.section_sentences(Section.FINDINGS)
    return findings or analysis.section_sentences(Section.IMPRESSIONS)


@dataclass(slots=True)
class PathContent:
    """What one RadGenome path of one volume holds."""

    sentences: list[Sentence] = field(default_factory=list)
    stated: list[Finding] = field(default_factory=list)
    """Present or uncertain findings (the abnormalities)."""
    present: list[Finding] = field(default_factory=list)
    absent: list[Finding] = field(default_factory=list)


def path_contents(analysis: ReportAnalysis, hierarchy: Hierarchy | None = None) -> dict[str, PathContent]:
    """Per RadGenome path: its sentences (a sentence on a node appears at every ancestor) and findings.

    Paths are the ones each sentence chose for its nodes (``Sentence.chosen_paths``: the thoracic aorta is
    written under the mediastinum only)."""
    out: dict[str, PathContent] = {}
    for sent in grounded_sentences(analysis):
        for path in sent.expanded_paths():
            content = out.get(path)
            if content is None:
                content = out[path] = PathContent()
            content.sentences.append(sent)
        for finding in sent.findings:
            absent = finding.polarity is Polarity.ABSENT
            present = finding.polarity is Polarity.PRESENT
            for path in _finding_paths(sent, finding):
                content = out.get(path)
                if content is None:
                    content = out[path] = PathContent()
                if absent:
                    content.absent.append(finding)
                else:
                    content.stated.append(finding)
                    if present:
                        content.present.append(finding)
    return {p: out[p] for p in sorted(out, key=path_sort_key)}


def _finding_paths(sent: Sentence, finding: Finding) -> tuple[str, ...]:
    """The paths a finding is written under: its nodes placed as its sentence places them, with ancestors."""
    if not finding.nodes or finding.nodes == sent.nodes:
        return sent.expanded_paths()
    return expand_chosen(p for n in finding.nodes for p in sent.paths_of(n))


def _phrases(findings: list[Finding]) -> str:
    if len(findings) == 1:
        return findings[0].phrase
    return ", ".join(dict.fromkeys(f.phrase for f in findings))


def volume_rows(
    analysis: ReportAnalysis, hierarchy: Hierarchy | None = None, contents: dict[str, PathContent] | None = None
) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows for one volume (``contents``: its :func:`path_contents` when the caller has them)."""
    vol = analysis.volume
    if contents is None:
        contents = path_contents(analysis, hierarchy)
    region, abnormality, location, presence, size = [], [], [], [], []
    whole = analysis.report.findings.strip() or analysis.report.impressions.strip()
    if whole:
        region.append((vol, "", " ".join(whole.split())))
    for path, content in contents.items():
        sentences = content.sentences
        if not sentences:
            continue
        region.append((vol, path, sentences[0].text if len(sentences) == 1 else " ".join(s.text for s in sentences)))
        abnormal = _phrases(content.stated) if content.stated else ""
        abnormality.append((vol, path, abnormal or NO_FINDINGS))
        if abnormal:
            location.append((vol, path, abnormal))
        if content.present:
            presence.append((vol, path, _phrases(content.present), "Yes."))
        if content.absent:
            presence.append((vol, path, _phrases(content.absent), "No."))
        seen: set[int] = set()
        for finding in content.stated:
            measured = finding.measured  # bounds ("up to 5 mm") and earlier sizes do not answer its size
            if measured and id(finding) not in seen:
                seen.add(id(finding))
                sizes = ", ".join(m.text for m in measured)
                largest = max(m.largest_mm for m in measured)
                size.append((vol, path, finding.phrase, sizes, f"{largest:g}"))
    return {
        "region_report": region,
        "vqa_abnormality": abnormality,
        "vqa_location": location,
        "vqa_presence": presence,
        "vqa_size": size,
        "case_disorders": [(vol, ", ".join(analysis.disorders) or NO_FINDINGS)],
        "abnormality_labels": [(vol, *(int(analysis.labels.get(label, 0)) for label in LABELS))],
    }


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a CSV through a temporary file in the same folder, then rename (no half-written files).

    Every cell goes through :func:`radgenome.csvcells.escape_cell`: a cell starting with ``=``, ``+``, ``-``,
    ``@``, tab or CR gets a leading ``'`` so a spreadsheet never executes it (our readers undo it)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = SafeWriter(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


class RadGenomeTables:
    """The rows of every table, per split, added volume by volume (rows keep the order volumes are added in)."""

    def __init__(self, default_split: str = "train") -> None:
        self.default_split = default_split
        self.by_split: dict[str, dict[str, list[tuple[object, ...]]]] = {}

    def add(
        self,
        analysis: ReportAnalysis,
        hierarchy: Hierarchy | None = None,
        contents: dict[str, PathContent] | None = None,
    ) -> None:
        self.add_rows(analysis.volume, volume_rows(analysis, hierarchy, contents))

    def add_rows(self, volume: str, rows: dict[str, list[tuple[object, ...]]]) -> None:
        """Add one volume's :func:`volume_rows` (made by the caller)."""
        split = split_of(volume, self.default_split)
        tables = self.by_split.setdefault(split, {name: [] for name in TABLE_COLUMNS})
        for name, table_rows in rows.items():
            tables[name].extend(table_rows)

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write ``{split}_{table}.csv`` for every split present; returns the written paths by file name."""
        written: dict[str, Path] = {}
        for split, tables in sorted(self.by_split.items()):
            for name, rows in tables.items():
                path = Path(out_dir) / OutputLayout.table_name(split, name)
                write_csv_atomic(path, TABLE_COLUMNS[name], rows)
                written[path.name] = path
        return written


def write_radgenome_tables(
    analyses: Iterable[ReportAnalysis], out_dir: Path, default_split: str = "train"
) -> dict[str, Path]:
    """Write ``{split}_{table}.csv`` for every split present; returns the written paths by file name."""
    h = load_hierarchy()
    tables = RadGenomeTables(default_split)
    for analysis in analyses:
        tables.add(analysis, h)
    return tables.write(out_dir)

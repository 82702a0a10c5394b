"""Corpus discovery for ``radgenome build``: CT-RATE's folder layout or explicit reports / volumes / metadata.

CT-RATE layout (``ROOT`` may be the repository root holding ``dataset/`` or ``dataset/`` itself)::

    dataset/{train,valid}_fixed/<patient>/<patient><scan>/<volume>.nii.gz   (also without ``_fixed``)
    dataset/radiology_text_reports/{train,validation}_reports.csv
    dataset/metadata/*.csv
    dataset/multi_abnormality_labels/*.csv

Reports and volumes are paired by stem (VolumeName without ``.nii.gz``). Nothing is dropped silently: reports
without volumes, volumes without reports, duplicate VolumeNames and unreadable rows become
:class:`CorpusIssue` entries with a reason. ``reconstructions="first"`` keeps only the first reconstruction of
each scan (``train_1_a_1`` but not ``train_1_a_2``), as RadGenome did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from radgenome.corpus.files import not_regular_reason
from radgenome.corpus.inputs import discover_inputs
from radgenome.corpus.metadata import MetadataRow, read_metadata, volume_stem
from radgenome.corpus.reports import ReportTableError, RowErrorKind, read_report_table
from radgenome.model import CorpusIssue, IssueKind, Report

Reconstructions = Literal["first", "all"]
_RECON = re.compile(r"^(?P<scan>.+_[A-Za-z]+)_(?P<rec>\d+)$")


class CorpusError(ValueError):
    """The corpus cannot be built at all (no reports table found, unreadable reports table)."""


@dataclass(frozen=True)
class CaseInput:
    """One report to build, with its volume when found."""

    volume: str
    """VolumeName as written in the reports table."""
    stem: str
    report: Report
    source: str
    """Reports table the row comes from."""
    volume_path: Path | None = None
    metadata: MetadataRow | None = None
    volume_anchor: Path | None = None
    """The corpus folder the volume's path is stored relative to in the dataset (``volume_corpus_path``): the
    CT-RATE ROOT given to the build, or the ``volumes`` folder the file was found under."""


@dataclass
class Corpus:
    cases: list[CaseInput]
    issues: list[CorpusIssue] = field(default_factory=list)
    report_files: list[Path] = field(default_factory=list)
    volume_roots: list[Path] = field(default_factory=list)
    metadata_files: list[Path] = field(default_factory=list)
    label_files: list[Path] = field(default_factory=list)
    skipped_reconstructions: list[str] = field(default_factory=list)
    """Stems left out by ``reconstructions="first"``."""

    def issues_of(self, kind: IssueKind) -> list[CorpusIssue]:
        return [i for i in self.issues if i.kind == kind]


def reconstruction_key(stem: str) -> tuple[str, int] | None:
    """``train_1_a_2`` -> ``("train_1_a", 2)``; None for names that do not follow CT-RATE's scheme."""
    m = _RECON.match(stem)
    if m is None:
        return None
    return m.group("scan"), int(m.group("rec"))


def ctrate_dataset_dir(root: Path) -> Path:
    """The folder holding CT-RATE's ``radiology_text_reports`` etc. (``root/dataset`` or ``root``)."""
    for cand in (root / "dataset", root):
        if (cand / "radiology_text_reports").is_dir():
            return cand
        if any((cand / f"{s}{x}").is_dir() for s in ("train", "valid") for x in ("_fixed", "")):
            return cand
    return root / "dataset" if (root / "dataset").is_dir() else root


def ctrate_paths(root: Path) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """(reports CSVs, volume folders, metadata CSVs, abnormality label CSVs) of a CT-RATE download."""
    ds = ctrate_dataset_dir(root)
    reports = sorted((ds / "radiology_text_reports").glob("*.csv"))
    volumes: list[Path] = []
    for split in ("train", "valid"):
        fixed = ds / f"{split}_fixed"
        plain = ds / split
        if fixed.is_dir():
            volumes.append(fixed)  # the corrected release supersedes the original one
        elif plain.is_dir():
            volumes.append(plain)
    metadata = sorted((ds / "metadata").glob("*.csv"))
    labels = sorted((ds / "multi_abnormality_labels").glob("*.csv"))
    return reports, volumes, metadata, labels


@dataclass
class VolumeFiles:
    """The volumes found under some folders, by stem."""

    paths: dict[str, Path] = field(default_factory=dict)
    anchors: dict[str, Path] = field(default_factory=dict)
    """The folder each volume was found under (see :attr:`CaseInput.volume_anchor`)."""
    unusable: dict[str, str] = field(default_factory=dict)
    """Stem -> why the entry named like that volume cannot be used (a FIFO, a folder, a dangling link)."""
    issues: list[CorpusIssue] = field(default_factory=list)


def find_volumes(roots: list[Path]) -> VolumeFiles:
    """NIfTI files (recursive) and DICOM series folders under ``roots``, by stem, with the problems met."""
    cases, problems = discover_inputs(list(roots))
    found = VolumeFiles()
    for p in problems:
        if "already used by" in p.message:
            found.issues.append(CorpusIssue("duplicate_volume", volume_stem(Path(p.path).name), p.path, p.message))
        else:
            found.issues.append(CorpusIssue("unreadable_input", p.stem, p.path, p.message))
            if p.stem:
                found.unusable.setdefault(p.stem, f"{p.path} is {p.message}")
    for c in cases:
        found.paths[c.stem] = c.path
        if c.root is not None:
            found.anchors[c.stem] = c.root
    return found


_ISSUE_OF: dict[RowErrorKind, IssueKind] = {
    "duplicate": "duplicate_volume",
    "invalid_name": "invalid_volume_name",
    "unreadable": "unreadable_row",
    "swallowed": "unreadable_row",
}


def _read_all_reports(files: list[Path]) -> tuple[list[tuple[Report, str]], list[CorpusIssue]]:
    out: list[tuple[Report, str]] = []
    issues: list[CorpusIssue] = []
    seen: dict[str, str] = {}
    for f in files:
        try:
            table = read_report_table(f)
        except ReportTableError as exc:
            raise CorpusError(str(exc)) from exc
        for e in table.errors:
            where = f"{f.name} row {e.row}" + (f" line {e.line}" if e.line else "")
            issues.append(CorpusIssue(_ISSUE_OF[e.kind], e.volume, where, e.message))
        for w in table.warnings:
            where = f"{f.name} row {w.row}" + (f" line {w.line}" if w.line else "")
            issues.append(CorpusIssue("legacy_encoding", w.volume, where, w.message))
        for r in table.reports:
            stem = volume_stem(r.volume)
            if stem in seen:
                issues.append(
                    CorpusIssue(
                        "duplicate_volume",
                        r.volume,
                        f"{f.name} row {r.row}",
                        f"duplicate VolumeName (first in {seen[stem]}); this row is not used",
                    )
                )
                continue
            seen[stem] = f"{f.name} row {r.row}"
            out.append((r, str(f)))
    return out, issues


def _first_reconstructions(stems: list[str]) -> set[str]:
    """The stems kept by ``reconstructions="first"``: the lowest reconstruction number of each scan."""
    best: dict[str, int] = {}
    for s in stems:
        key = reconstruction_key(s)
        if key is not None:
            best[key[0]] = min(best.get(key[0], key[1]), key[1])
    keep: set[str] = set()
    for s in stems:
        key = reconstruction_key(s)
        if key is None or best[key[0]] == key[1]:
            keep.add(s)
    return keep


def discover_corpus(
    root: Path | None = None,
    *,
    reports: list[Path] | None = None,
    volumes: list[Path] | None = None,
    metadata: list[Path] | None = None,
    reconstructions: Reconstructions = "first",
    text_only: bool = False,
    missing_volumes: Literal["report", "text"] = "report",
) -> Corpus:
    """Find reports, volumes and metadata and pair them by stem.

    Explicit ``reports`` / ``volumes`` / ``metadata`` replace what the CT-RATE ``root`` would provide. Raises
    :class:`CorpusError` when no reports table is found or one cannot be read at all. With ``text_only`` no
    volume is looked for and every report becomes a case. ``missing_volumes="text"`` keeps reports whose volume
    is missing as cases without a volume (still listed as ``report_without_volume``).
    """
    if reconstructions not in ("first", "all"):
        raise CorpusError(f"reconstructions must be 'first' or 'all', not {reconstructions!r}")
    r_files: list[Path] = []
    v_roots: list[Path] = []
    m_files: list[Path] = []
    l_files: list[Path] = []
    if root is not None:
        if not Path(root).is_dir():
            raise CorpusError(f"{root}: no such folder")
        r_files, v_roots, m_files, l_files = ctrate_paths(Path(root))
    if reports:
        r_files = [Path(p) for p in reports]
    if volumes:
        v_roots = [Path(p) for p in volumes]
    if metadata:
        m_files = [Path(p) for p in metadata]
    if not r_files:
        where = f" under {root}" if root is not None else ""
        raise CorpusError(f"no reports table found{where} (give a reports table or a CT-RATE root)")
    for f in r_files:
        reason = not_regular_reason(f)
        if reason is not None:
            raise CorpusError(f"{f}: cannot read reports table: {reason}")

    rows, issues = _read_all_reports(r_files)
    found = VolumeFiles()
    if not text_only and v_roots:
        found = find_volumes(v_roots)
        issues.extend(found.issues)
        if root is not None and not volumes:
            found.anchors = dict.fromkeys(found.paths, Path(root))
    vol_paths = found.paths
    meta: dict[str, MetadataRow] = {}
    for f in m_files:
        try:
            meta.update(read_metadata(f))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            issues.append(CorpusIssue("unreadable_metadata", "", str(f), str(exc)))

    report_stems = [volume_stem(r.volume) for r, _ in rows]
    skipped: list[str] = []
    if reconstructions == "first":
        keep_reports = _first_reconstructions(report_stems)
        # a volume is kept when its report is kept, or (no report) when it is its scan's first reconstruction
        keep_volumes = keep_reports | _first_reconstructions(sorted(set(vol_paths) - set(report_stems)))
        skipped = sorted((set(report_stems) - keep_reports) | (set(vol_paths) - keep_volumes))
        rows = [(r, src) for r, src in rows if volume_stem(r.volume) in keep_reports]
        vol_paths = {s: p for s, p in vol_paths.items() if s in keep_volumes}

    cases: list[CaseInput] = []
    used: set[str] = set()
    for r, src in rows:
        stem = volume_stem(r.volume)
        path = vol_paths.get(stem)
        if path is None and not text_only:
            where = ", ".join(str(v) for v in v_roots) or "no volume folder given"
            source = f"{Path(src).name} row {r.row}"
            reason = f"no volume {stem} in {where}"
            if stem in found.unusable:
                reason = f"no usable volume {stem}: {found.unusable[stem]}"
            if missing_volumes == "text":
                issues.append(CorpusIssue("report_without_volume", r.volume, source, f"{reason}; built text-only"))
            else:
                issues.append(CorpusIssue("report_without_volume", r.volume, source, reason))
                continue
        used.add(stem)
        cases.append(CaseInput(r.volume, stem, r, src, path, meta.get(stem),
                               found.anchors.get(stem) if path is not None else None))
    for stem in sorted(set(vol_paths) - used):
        issues.append(
            CorpusIssue("volume_without_report", stem, str(vol_paths[stem]), "no report row with this VolumeName")
        )
    cases.sort(key=lambda c: c.stem)
    return Corpus(cases, issues, r_files, v_roots, m_files, l_files, skipped)

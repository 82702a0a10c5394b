"""The numbers behind ``report.html``, gathered case by case during the build's single finalising pass.

:class:`StatsCollector` takes each case once (its record, path contents, sidecar and QA pairs, as the dataset
writers have them in hand) and :meth:`StatsCollector.report_stats` turns the counts and the build's
:class:`~radgenome.model.BuildSummary` into the page's :class:`ReportStats`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from radgenome.anatomy import ANATOMICAL_REGIONS, TOP_LEVEL_REGIONS, Hierarchy, load_hierarchy
from radgenome.dataset.records import QA_KINDS, QAPair
from radgenome.dataset.tables import PathContent, grounded_sentences
from radgenome.model import MASK_STATUSES, STAGES, BuildSummary, CaseRecord
from radgenome.regions import resolve


@dataclass
class CaseIssue:
    case: str
    reason: str


@dataclass
class FlagRow:
    case: str
    kind: str
    detail: str
    sentence_index: int | None
    sentence: str


@dataclass
class ReportStats:
    n_records: int = 0
    """Cases in the dataset (the records given)."""
    n_done: int = 0
    """Cases built by this run."""
    n_failed: int = 0
    n_skipped: int = 0
    """Cases left as they were (unchanged since an earlier build)."""
    failed: list[CaseIssue] = field(default_factory=list)
    skipped: list[CaseIssue] = field(default_factory=list)
    """Cases left out with a reason (a build counts its unchanged cases in ``n_skipped`` only)."""
    orphans: list[CaseIssue] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    n_sentences: int = 0
    sentences_per_region: dict[str, int] = field(default_factory=dict)
    volumes_per_region: dict[str, int] = field(default_factory=dict)
    abnormal_per_region: dict[str, int] = field(default_factory=dict)
    qa_per_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    """kind -> variant -> count."""
    mask_ml: dict[str, list[float]] = field(default_factory=dict)
    """Top-level region -> volume (ml) of its union per segmented case (cases where it is non-empty)."""
    mask_status: dict[str, int] = field(default_factory=dict)
    flag_counts: dict[str, int] = field(default_factory=dict)
    flags: list[FlagRow] = field(default_factory=list)
    stage_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    """stage -> {total, mean, median, max} over the records' timings."""
    run_stage_seconds: dict[str, float] = field(default_factory=dict)
    """Per-stage seconds from the build summary (wall clock of the run)."""
    provenance: dict[str, dict[str, int]] = field(default_factory=dict)
    """field -> value -> number of cases."""
    extra: dict[str, Any] = field(default_factory=dict)

    def abnormal_rate(self, region: str) -> float | None:
        n = self.volumes_per_region.get(region, 0)
        return self.abnormal_per_region.get(region, 0) / n if n else None


# ------------------------------------------------------------------------------------------------ collector
class StatsCollector:
    """Counts over the cases of a build, one :meth:`add` per case (in the dataset's order)."""

    def __init__(self, first_flags: int = 50, hierarchy: Hierarchy | None = None) -> None:
        self.h = hierarchy or load_hierarchy()
        self.first_flags = first_flags
        self.n_records = 0
        self.n_sentences = 0
        self.splits: Counter[str] = Counter()
        self.per_region: Counter[str] = Counter()
        self.volumes: Counter[str] = Counter()
        self.abnormal: Counter[str] = Counter()
        self.members = {r: resolve(r)[1] for r in ANATOMICAL_REGIONS}
        self.mask_ml: dict[str, list[float]] = {r: [] for r in ANATOMICAL_REGIONS}
        self.unreadable_sidecars: list[str] = []
        self.mask_status: Counter[str] = Counter()
        self.flag_counts: Counter[str] = Counter()
        self.flags: list[FlagRow] = []
        self.stage_times: dict[str, list[float]] = {}
        self.provenance: dict[str, Counter[str]] = {}
        self.qa: dict[str, dict[str, int]] = {k: {} for k in QA_KINDS}

    def add(
        self,
        rec: CaseRecord,
        contents: Mapping[str, PathContent],
        sidecar: Mapping[str, Any] | None,
        qa: Iterable[QAPair] = (),
    ) -> None:
        """One case: its record, :func:`~radgenome.dataset.tables.path_contents`, label-map sidecar (None: none or
        unreadable) and QA pairs."""
        self.n_records += 1
        self.splits[rec.split] += 1
        self._regions(rec, contents)
        self._mask_volumes(rec, sidecar)
        self.mask_status.update(m.status for m in rec.node_masks.values())
        self._flags(rec)
        for stage, seconds in rec.timings.items():
            self.stage_times.setdefault(stage, []).append(float(seconds))
        self._provenance(rec)
        for q in qa:
            by_variant = self.qa.setdefault(q.kind, {})
            by_variant[q.variant] = by_variant.get(q.variant, 0) + 1

    def _regions(self, rec: CaseRecord, contents: Mapping[str, PathContent]) -> None:
        sentences = grounded_sentences(rec.analysis)
        self.n_sentences += len(sentences)
        for s in sentences:
            self.per_region.update({p for p in s.expanded_paths() if "/" not in p})
        for path, content in contents.items():
            if "/" in path or not content.sentences:
                continue
            self.volumes[path] += 1
            if content.stated:
                self.abnormal[path] += 1

    def _mask_volumes(self, rec: CaseRecord, sidecar: Mapping[str, Any] | None) -> None:
        if rec.masks.labelmap is None:
            return
        if sidecar is None:
            self.unreadable_sidecars.append(rec.stem)
            return
        per_structure = {str(k): float(v.get("volume_ml", 0.0)) for k, v in sidecar.get("stats", {}).items()}
        for region, names in self.members.items():
            total = sum(v for k, v in per_structure.items() if k in names)
            if total > 0:
                self.mask_ml[region].append(round(total, 3))

    def _flags(self, rec: CaseRecord) -> None:
        texts = {s.index: s.text for s in rec.sentences}
        for flag in rec.flags:
            self.flag_counts[flag.kind] += 1
            if len(self.flags) < self.first_flags:
                text = texts.get(flag.sentence_index, "") if flag.sentence_index is not None else ""
                self.flags.append(FlagRow(rec.stem, flag.kind, flag.detail, flag.sentence_index, text))

    def _provenance(self, rec: CaseRecord) -> None:
        values = {
            "text backend": f"{rec.analysis.backend} {rec.analysis.version}",
            "segmentation": f"{rec.masks.backend} {rec.masks.version}" if rec.masks.backend else "none (text only)",
            "radgenome": rec.provenance.radgenome_version or "?",
        }
        for key, value in values.items():
            self.provenance.setdefault(key, Counter())[value.strip()] += 1

    # -------------------------------------------------------------------------------------------- results
    def report_stats(self, summary: BuildSummary) -> ReportStats:
        """The page's numbers: these counts plus the build's outcome."""
        stats = ReportStats(
            n_records=self.n_records,
            n_done=summary.done,
            n_failed=summary.failed,
            n_skipped=summary.skipped,
            failed=[CaseIssue(f.volume or "-", _issue_reason(f.stage, f.reason, "")) for f in summary.failures],
            orphans=[CaseIssue(i.volume or "-", _issue_reason(i.kind, i.reason, i.source)) for i in summary.issues],
            splits=dict(self.splits),
            n_sentences=self.n_sentences,
            run_stage_seconds={str(k): float(v) for k, v in summary.seconds_per_stage.items()},
        )
        order = [r for r in TOP_LEVEL_REGIONS if r in self.per_region or r in self.volumes]
        stats.sentences_per_region = {r: self.per_region[r] for r in order}
        stats.volumes_per_region = {r: self.volumes[r] for r in order}
        stats.abnormal_per_region = {r: self.abnormal[r] for r in order}
        stats.mask_ml = {r: v for r, v in self.mask_ml.items() if v}
        if self.unreadable_sidecars:
            stats.extra["unreadable_sidecars"] = list(self.unreadable_sidecars)
        stats.mask_status = {s: n for s in MASK_STATUSES if (n := self.mask_status[s])}
        stats.flag_counts = dict(self.flag_counts.most_common())
        stats.flags = list(self.flags)
        per_stage = self.stage_times
        stage_order = [s for s in STAGES if s in per_stage] + sorted(s for s in per_stage if s not in STAGES)
        stats.stage_seconds = {
            s: {
                "total": sum(per_stage[s]),
                "mean": statistics.fmean(per_stage[s]),
                "median": statistics.median(per_stage[s]),
                "max": max(per_stage[s]),
            }
            for s in stage_order
        }
        stats.provenance = {k: dict(v.most_common()) for k, v in self.provenance.items()}
        stats.qa_per_kind = {k: dict(v) for k, v in self.qa.items()}
        return stats

    def summary_mask_status(self) -> dict[str, int]:
        """Mask status -> grounded nodes, sorted by status (``summary.json``)."""
        return dict(sorted(self.mask_status.items()))

    def summary_flags(self) -> dict[str, int]:
        return dict(sorted(self.flag_counts.items()))


def _issue_reason(kind: str, reason: str, source: str) -> str:
    text = f"{kind}: {reason}" if kind and reason else kind or reason
    return f"{text} [{source}]" if source else text

"""The numbers behind ``report.html``: computed from the case records, their sidecars and the QA table."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radgenome.anatomy import ANATOMICAL_REGIONS, TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.dataset.records import QA_KINDS
from radgenome.dataset.tables import grounded_sentences, path_contents
from radgenome.pipeline.record import CaseRecord, analysis_from_record
from radgenome.regions import resolve
from radgenome.segment.io import sidecar_path

MASK_STATUSES: tuple[str, ...] = ("ok", "empty", "outside_fov", "no_structure", "not_segmented")
STAGES: tuple[str, ...] = ("load", "segment", "text", "link", "write")


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
    """Cases built by this run (``summary["done"]``; all records when the summary does not say)."""
    n_failed: int = 0
    n_skipped: int = 0
    """``summary["skipped"]``: cases left as they were (unchanged since an earlier build), or skipped inputs."""
    failed: list[CaseIssue] = field(default_factory=list)
    skipped: list[CaseIssue] = field(default_factory=list)
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


# ------------------------------------------------------------------------------------------------ summary
def _reason(item: Mapping[str, Any]) -> str:
    reason = next((str(item[k]) for k in ("reason", "error", "detail", "message") if item.get(k)), "")
    label = next((str(item[k]) for k in ("stage", "kind") if item.get(k)), "")
    text = f"{label}: {reason}" if label and reason else label or reason
    return f"{text} [{item['source']}]" if item.get("source") else text


def _issues(value: Any) -> list[CaseIssue]:
    """Cases with reasons from a summary entry: a list of dicts/pairs/strings or a {case: reason} mapping."""
    if value is None or isinstance(value, int | float):
        return []
    if isinstance(value, Mapping):
        return [CaseIssue(str(k), str(v)) for k, v in value.items()]
    out = []
    for item in value:
        if isinstance(item, Mapping):
            case = next((str(item[k]) for k in ("case", "stem", "volume", "path", "name") if item.get(k)), "-")
            out.append(CaseIssue(case, _reason(item)))
        elif isinstance(item, list | tuple) and item:
            out.append(CaseIssue(str(item[0]), " ".join(str(x) for x in item[1:])))
        else:
            out.append(CaseIssue(str(item), ""))
    return out


def _count(summary: Mapping[str, Any], key: str, issues: list[CaseIssue], default: int) -> int:
    counts = summary.get("counts")
    value = counts.get(key) if isinstance(counts, Mapping) and key in counts else summary.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return len(issues) if value is not None else default


def _stage_seconds(summary: Mapping[str, Any]) -> dict[str, float]:
    for key in ("stage_seconds", "seconds_per_stage", "stages", "timings", "per_stage_seconds"):
        value = summary.get(key)
        if isinstance(value, Mapping):
            return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}
    return {}


# ------------------------------------------------------------------------------------------------- stats
def _region_stats(stats: ReportStats, records: Sequence[CaseRecord]) -> None:
    h = load_hierarchy()
    per_region: Counter[str] = Counter()
    volumes: Counter[str] = Counter()
    abnormal: Counter[str] = Counter()
    for rec in records:
        analysis = analysis_from_record(rec)
        sentences = grounded_sentences(analysis)
        stats.n_sentences += len(sentences)
        for s in sentences:
            per_region.update({p for p in h.expand_paths(s.nodes) if "/" not in p})
        for path, content in path_contents(analysis, h).items():
            if "/" in path or not content.sentences:
                continue
            volumes[path] += 1
            if content.stated:
                abnormal[path] += 1
    order = [r for r in TOP_LEVEL_REGIONS if r in per_region or r in volumes]
    stats.sentences_per_region = {r: per_region[r] for r in order}
    stats.volumes_per_region = {r: volumes[r] for r in order}
    stats.abnormal_per_region = {r: abnormal[r] for r in order}


def _mask_volumes(stats: ReportStats, out: Path, records: Sequence[CaseRecord]) -> None:
    members = {r: resolve(r)[1] for r in ANATOMICAL_REGIONS}
    ml: dict[str, list[float]] = {r: [] for r in ANATOMICAL_REGIONS}
    for rec in records:
        if rec.masks.labelmap is None:
            continue
        side = out / rec.masks.sidecar if rec.masks.sidecar else sidecar_path(out / rec.masks.labelmap)
        try:
            sidecar = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stats.extra.setdefault("unreadable_sidecars", []).append(rec.stem)
            continue
        per_structure = {str(k): float(v.get("volume_ml", 0.0)) for k, v in sidecar.get("stats", {}).items()}
        for region, names in members.items():
            total = sum(v for k, v in per_structure.items() if k in names)
            if total > 0:
                ml[region].append(round(total, 3))
    stats.mask_ml = {r: v for r, v in ml.items() if v}


def _flags(stats: ReportStats, records: Sequence[CaseRecord], first_n: int) -> None:
    counts: Counter[str] = Counter()
    for rec in records:
        texts = {int(s["index"]): str(s["text"]) for s in rec.sentences}
        for flag in rec.flags:
            counts[flag.kind] += 1
            if len(stats.flags) < first_n:
                text = texts.get(flag.sentence_index, "") if flag.sentence_index is not None else ""
                stats.flags.append(FlagRow(rec.stem, flag.kind, flag.detail, flag.sentence_index, text))
    stats.flag_counts = dict(counts.most_common())


def _timings(stats: ReportStats, records: Sequence[CaseRecord]) -> None:
    per_stage: dict[str, list[float]] = {}
    for rec in records:
        for stage, seconds in rec.timings.items():
            per_stage.setdefault(stage, []).append(float(seconds))
    order = [s for s in STAGES if s in per_stage] + sorted(s for s in per_stage if s not in STAGES)
    stats.stage_seconds = {
        s: {
            "total": sum(per_stage[s]),
            "mean": statistics.fmean(per_stage[s]),
            "median": statistics.median(per_stage[s]),
            "max": max(per_stage[s]),
        }
        for s in order
    }


def _provenance(stats: ReportStats, records: Sequence[CaseRecord]) -> None:
    fields: dict[str, Counter[str]] = {}
    for rec in records:
        values = {
            "text backend": f"{rec.provenance.get('text_backend', '?')} {rec.provenance.get('text_version', '')}",
            "segmentation": f"{rec.masks.backend} {rec.masks.version}" if rec.masks.backend else "none (text only)",
            "radgenome": str(rec.provenance.get("radgenome_version", "?")),
        }
        for key, value in values.items():
            fields.setdefault(key, Counter())[value.strip()] += 1
    stats.provenance = {k: dict(v.most_common()) for k, v in fields.items()}


def _qa_counts(out: Path, records: Sequence[CaseRecord], seed: int) -> dict[str, dict[str, int]]:
    from radgenome.dataset.writers import QA_FILE, dataset_rows

    path = out / QA_FILE
    pairs: list[tuple[str, str]]
    if path.exists():
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["kind", "variant"])
        pairs = list(zip(table.column("kind").to_pylist(), table.column("variant").to_pylist(), strict=True))
    else:
        _, qa = dataset_rows(out, records, seed=seed)
        pairs = [(q.kind, q.variant) for q in qa]
    counts: dict[str, dict[str, int]] = {k: {} for k in QA_KINDS}
    for kind, variant in pairs:
        counts.setdefault(kind, {})
        counts[kind][variant] = counts[kind].get(variant, 0) + 1
    return counts


def compute_stats(
    out: Path, records: Sequence[CaseRecord], summary: Mapping[str, Any], *, first_flags: int = 50
) -> ReportStats:
    stats = ReportStats()
    stats.failed = _issues(summary.get("failed")) or _issues(summary.get("failures"))
    stats.skipped = _issues(summary.get("skipped"))
    stats.orphans = _issues(summary.get("orphans")) or _issues(summary.get("issues"))
    stats.n_records = len(records)
    stats.n_done = _count(summary, "done", [], len(records))
    stats.n_failed = _count(summary, "failed", stats.failed, len(stats.failed))
    stats.n_skipped = _count(summary, "skipped", stats.skipped, len(stats.skipped))
    stats.run_stage_seconds = _stage_seconds(summary)
    stats.splits = dict(Counter(rec.split for rec in records))
    _region_stats(stats, records)
    _mask_volumes(stats, out, records)
    stats.mask_status = {
        s: n for s in MASK_STATUSES if (n := sum(1 for r in records for m in r.node_masks.values() if m.status == s))
    }
    _flags(stats, records, first_flags)
    _timings(stats, records)
    _provenance(stats, records)
    stats.qa_per_kind = _qa_counts(out, records, int(summary.get("seed", 0) or 0))
    return stats

"""What a build reports: corpus problems, failed cases and the run's :class:`BuildSummary` (``OUT/summary.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

IssueKind = Literal[
    "report_without_volume",
    "volume_without_report",
    "duplicate_volume",
    "unreadable_row",
    "unreadable_input",
    "unreadable_metadata",
    "invalid_volume_name",
    "legacy_encoding",
]
"""``legacy_encoding``: a reports row that was not valid UTF-8 and was decoded as Windows-1252 (it is built; the
issue is a notice). ``invalid_volume_name``: a VolumeName outside the safe pattern (the row is not built)."""

STAGES: tuple[str, ...] = ("load", "segment", "text", "link", "write")
"""The stages of one case, in order (per-case timings use these keys)."""


@dataclass(frozen=True, slots=True)
class CorpusIssue:
    """A corpus problem found while pairing reports and volumes (nothing is dropped silently)."""

    kind: IssueKind
    volume: str
    """VolumeName or stem concerned ('' when unknown)."""
    source: str
    """The file (and row) the issue comes from."""
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "volume": self.volume, "source": self.source, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CaseFailure:
    """A case that could not be built: the stage that failed and why."""

    volume: str
    """The case's stem."""
    stage: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"volume": self.volume, "stage": self.stage, "reason": self.reason}


@dataclass(slots=True)
class BuildSummary:
    """The outcome of one ``radgenome build`` run (also ``OUT/summary.json``)."""

    cases: int = 0
    """Cases in the corpus."""
    done: int = 0
    """Cases built by this run."""
    skipped: int = 0
    """Cases left as they were (unchanged since an earlier build)."""
    failed: int = 0
    records: int = 0
    """Cases in the dataset (finished records)."""
    failures: list[CaseFailure] = field(default_factory=list)
    reports_without_volumes: list[str] = field(default_factory=list)
    volumes_without_reports: list[str] = field(default_factory=list)
    issues: list[CorpusIssue] = field(default_factory=list)
    skipped_reconstructions: int = 0
    seconds_per_stage: dict[str, float] = field(default_factory=dict)
    """Stage -> total seconds over the cases built by this run."""
    mean_seconds_per_stage: dict[str, float] = field(default_factory=dict)
    mask_status: dict[str, int] = field(default_factory=dict)
    """Mask status -> grounded nodes with it, over every record."""
    flags: dict[str, int] = field(default_factory=dict)
    """Consistency flag kind -> count, over every record."""
    seconds_cases: float = 0.0
    seconds_finalize: float = 0.0
    seconds_total: float = 0.0
    text_stats: dict[str, Any] = field(default_factory=dict)
    """The text backend's counters for this run (an LLM backend's requests, answers, fallbacks by kind)."""
    text_problem: str = ""
    """Why the text backend's run fell short ('' when it did not): e.g. the LLM answered fewer than the required
    share of the sentences sent to it, with the counts per failure kind."""
    exit_code: int = 0
    """0 every case built; 3 some case failed, some report could not be built (each listed) or the text
    backend's run fell short (``text_problem``)."""
    notices: list[str] = field(default_factory=list)
    """What the build found and repaired on its way (a corrupt manifest moved aside, stale temporary files
    removed, finished cases whose outputs failed their check and were rebuilt)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "records": self.records,
            "failures": [f.to_dict() for f in self.failures],
            "reports_without_volumes": list(self.reports_without_volumes),
            "volumes_without_reports": list(self.volumes_without_reports),
            "issues": [i.to_dict() for i in self.issues],
            "skipped_reconstructions": self.skipped_reconstructions,
            "seconds_per_stage": dict(self.seconds_per_stage),
            "mean_seconds_per_stage": dict(self.mean_seconds_per_stage),
            "mask_status": dict(self.mask_status),
            "flags": dict(self.flags),
            "seconds_cases": self.seconds_cases,
            "seconds_finalize": self.seconds_finalize,
            "seconds_total": self.seconds_total,
            "text_stats": dict(self.text_stats),
            "text_problem": self.text_problem,
            "exit_code": self.exit_code,
            "notices": list(self.notices),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildSummary:
        d = dict(d)
        d["failures"] = [CaseFailure(**f) for f in d.get("failures", [])]
        d["issues"] = [CorpusIssue(**i) for i in d.get("issues", [])]
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> BuildSummary:
        return cls.from_dict(json.loads(text))

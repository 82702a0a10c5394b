"""Counting the audit as it goes: per file, verdict, reason and region, plus a small deterministic sample of
examples per verdict (for ``audit.html``) — without keeping every row in memory."""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from radgenome.audit.model import VERDICTS, Action, AddedRow, RowAudit, Verdict

EXAMPLES_PER_VERDICT = 12


def reason_key(reason: str) -> str:
    """The reason's code without its details (``abnormality_stated: nodule`` -> ``abnormality_stated``)."""
    return reason.split(";", 1)[0].split(":", 1)[0].split(" (", 1)[0].strip() or "-"


def _rank(*parts: object) -> int:
    return int(hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:15], 16)


def _keep(heap: list[tuple[int, int, Example]], rank: int, ex: Example, limit: int = EXAMPLES_PER_VERDICT) -> None:
    """Keep the ``limit`` examples of smallest rank (a stable pseudo-random sample); ``heap`` is a max-heap on
    rank (ranks stored negated), ties broken by row."""
    item = (-rank, -ex.row, ex)
    if len(heap) < limit:
        heapq.heappush(heap, item)  # type: ignore[misc]
    elif item[:2] > heap[0][:2]:
        heapq.heapreplace(heap, item)  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Example:
    file: str
    row: int
    volume: str
    anatomy: str
    field: str
    value: str
    verdict: str
    reason: str
    detail: str
    action: str
    after: str
    evidence: tuple[str, ...]


@dataclass
class Tally:
    verdicts: dict[str, Counter[str]] = field(default_factory=dict)
    """file -> verdict -> rows."""
    actions: dict[str, Counter[str]] = field(default_factory=dict)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    """verdict -> reason code -> rows."""
    file_reasons: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    regions: dict[str, Counter[str]] = field(default_factory=dict)
    """top-level region -> verdict -> rows."""
    abnormal: dict[str, Counter[str]] = field(default_factory=dict)
    """abnormality/location file -> what happened to its abnormal (not ``no findings``) rows."""
    _examples: dict[str, list[tuple[int, int, Example]]] = field(default_factory=dict)
    _added: list[tuple[int, int, Example]] = field(default_factory=list)

    def add(self, audit: RowAudit, after: str, abnormal: bool | None) -> None:
        v = audit.verdict.value
        self.verdicts.setdefault(audit.file, Counter())[v] += 1
        self.actions.setdefault(audit.file, Counter())[audit.action.value] += 1
        key = reason_key(audit.reason)
        self.reasons.setdefault(v, Counter())[key] += 1
        self.file_reasons.setdefault(audit.file, Counter())[(v, key)] += 1
        if audit.region:
            self.regions.setdefault(audit.region, Counter())[v] += 1
        if abnormal:
            c = self.abnormal.setdefault(audit.file, Counter())
            c["abnormal_rows"] += 1
            if audit.action is Action.FIXED and after.strip().lower() == "no findings":
                c["became_no_findings"] += 1
            else:
                c[audit.action.value] += 1
        ex = Example(audit.file, audit.row, audit.volume, audit.anatomy, audit.field, audit.value, v, audit.reason,
                     audit.detail, audit.action.value, after, tuple(e.render() for e in audit.evidence))
        _keep(self._examples.setdefault(v, []), _rank(audit.file, audit.row), ex)

    def add_negative(self, row: AddedRow) -> None:
        ex = Example(row.file, 0, row.volume, row.anatomy, "Finding,Presence", f"{row.cells[2]} -> No.", "added",
                     row.reason, "", Action.ADDED.value, "", tuple(e.render() for e in row.evidence))
        _keep(self._added, _rank(row.file, row.volume, row.anatomy, row.cells), ex)

    def examples(self, verdict: str) -> list[Example]:
        return sorted((t[2] for t in self._examples.get(verdict, [])), key=lambda e: (e.file, e.row))

    def added_examples(self) -> list[Example]:
        return sorted((t[2] for t in self._added), key=lambda e: (e.volume, e.anatomy))

    def totals(self) -> dict[str, int]:
        out = {v.value: 0 for v in VERDICTS}
        for c in self.verdicts.values():
            for k, n in c.items():
                out[k] += n
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdicts": self.totals(),
            "files": {
                f: {"verdicts": {v.value: c.get(v.value, 0) for v in VERDICTS}, "actions": dict(self.actions[f])}
                for f, c in sorted(self.verdicts.items())
            },
            "reasons": {v.value: dict(self.reasons.get(v.value, Counter()).most_common()) for v in VERDICTS},
            "regions": {r: {v.value: c.get(v.value, 0) for v in VERDICTS} for r, c in sorted(self.regions.items())},
            "abnormal_rows": {f: dict(c) for f, c in sorted(self.abnormal.items())},
        }


def verdict_order() -> tuple[str, ...]:
    return tuple(v.value for v in (Verdict.CONTRADICTED, Verdict.UNSUPPORTED, Verdict.NOT_CHECKED, Verdict.SUPPORTED))

"""The review queue (``--review``): contradicted and unsupported rows as a CSV the review app imports.

``OUT/review_queue.csv`` — one row per disputed released row, columns :data:`QUEUE_COLUMNS` (documented in
``docs/audit.md``), and ``OUT/review_queue.json`` — the format name and version, the column list, the verdicts
and the decisions a reviewer can take, so an importer can check what it reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radgenome.audit.model import Action, RowAudit, Verdict
from radgenome.audit.outputs import after_value, evidence_text, write_json
from radgenome.csvcells import SafeWriter

QUEUE_FORMAT = "radgenome-audit-queue"
QUEUE_VERSION = 1
QUEUE_FILE = "review_queue.csv"
QUEUE_META = "review_queue.json"
QUEUED = (Verdict.CONTRADICTED, Verdict.UNSUPPORTED)
QUEUE_COLUMNS = (
    "item_id", "kind", "file", "row", "split", "volume", "anatomy", "region", "field", "value", "verdict", "reason",
    "detail", "evidence", "proposed_action", "proposed_value", "report_findings", "report_impressions",
)
DECISIONS = {
    "accept": "the released row is right as published: keep it (the audit's verdict was wrong)",
    "reject": "the released row is wrong: remove it",
    "correct": "the released row is wrong but fixable: the reviewer's text replaces the checked cell "
               "(proposed_value, when given, is the audit's own fix)",
}
"""What a reviewer decides about the *released row* (the review app's accept / reject / correct)."""


def queue_item_id(file: str, row: int) -> str:
    """Stable 16-hex id of a released row (same scheme as the review app's item ids: sha1 of the natural key)."""
    return hashlib.sha1(f"audit\x1f{file}\x1f{row}".encode()).hexdigest()[:16]


def proposed_action(audit: RowAudit) -> str:
    if audit.verdict is Verdict.CONTRADICTED:
        return audit.action.value
    return "review"


class QueueWriter:
    """Streams queue rows (contradicted and unsupported audits) into a CSV writer."""

    def __init__(self, writer: SafeWriter) -> None:
        self._writer = writer
        self._writer.writerow(list(QUEUE_COLUMNS))
        self.count = 0

    def add(self, audit: RowAudit, split: str, field_index: int | None, findings: str, impressions: str) -> None:
        if audit.verdict not in QUEUED:
            return
        self._writer.writerow([
            queue_item_id(audit.file, audit.row), "audit_row", audit.file, audit.row, split, audit.volume,
            audit.anatomy, audit.region, audit.field, audit.value, audit.verdict.value, audit.reason, audit.detail,
            evidence_text(audit), proposed_action(audit),
            after_value(audit, field_index) if audit.action is Action.FIXED else "",
            findings, impressions,
        ])
        self.count += 1


def write_queue_meta(out: Path, count: int, source: dict[str, Any], columns: Sequence[str] = QUEUE_COLUMNS) -> Path:
    path = out / QUEUE_META
    write_json(path, {
        "format": QUEUE_FORMAT,
        "version": QUEUE_VERSION,
        "file": QUEUE_FILE,
        "items": count,
        "columns": list(columns),
        "verdicts": [v.value for v in QUEUED],
        "proposed_actions": ["removed", "fixed", "review"],
        "decisions": DECISIONS,
        "source": source,
    })
    return path

"""Audit and repair of a published RadGenome-ChestCT release against its CT-RATE reports.

``run_audit(release_dir, reports_csv, out, review=False)`` gives every released row a verdict (supported,
contradicted, unsupported, not_checked), writes the corrected tables in RadGenome's own layout, the changes,
an HTML report, a summary and, with ``review``, a review queue. See ``docs/audit.md``.

Modules: ``release`` (reading the tables as published), ``engine`` (the one adapter to the text engine),
``matching`` and ``places`` (finding a phrase in a report, comparing places), ``claims`` and ``rules`` (verdict
rules per claim and per table kind), ``negatives`` (stated negatives the release missed), ``repair`` (the
corrected tables), ``outputs``, ``tally``, ``report_html``, ``queue``, ``run``.
"""

from radgenome.audit.model import Action, TableKind, Verdict
from radgenome.audit.run import AuditInputError, AuditResult, run_audit

__all__ = ["Action", "AuditInputError", "AuditResult", "TableKind", "Verdict", "run_audit"]

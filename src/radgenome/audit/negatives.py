"""Stated negatives the release missed: ``No.`` rows to add to ``{split}_vqa_presence.csv``.

For every volume of the split that has a report, every (path, finding) the text engine reads as stated absent
("No pleural effusion", "Pericardial effusion-thickening was not observed") becomes a ``No.`` row unless the
(corrected) presence table already has a ``No.`` row for that finding at that path. Conservative: a negative is
added only when the audit's own reading of that sentence agrees it is absent (no hedging or uncertainty cue in
the sentence, no distrusted negation), the sentence's place is stated (not inherited from the sentence before),
and the report does not also state or hedge the same finding in that region and side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from radgenome.audit import engine, places
from radgenome.audit.claims import VolumeContext, evidence_of
from radgenome.audit.matching import same_finding
from radgenome.audit.model import Action, AddedRow, Polarity, ReleaseTable, RowAudit, TableKind
from radgenome.audit.rules import split_items

REASON = "missed_stated_negative"


@dataclass(frozen=True, slots=True)
class Anchored:
    after_row: int | None
    """The released row the added row follows (the volume's last presence row), or None: at the end."""
    row: AddedRow


def _no_phrases(table: ReleaseTable, audits: Mapping[int, RowAudit]) -> dict[tuple[str, str], list[str]]:
    """(volume key, path) -> the finding phrases of the corrected table's ``No.`` rows."""
    out: dict[tuple[str, str], list[str]] = {}
    for row in table.rows:
        audit = audits.get(row.row)
        if row.error or (audit is not None and audit.action is Action.REMOVED):
            continue
        cells = audit.replacement if audit is not None and audit.replacement is not None else row.cells
        answer = cells[table.index["Presence"]]
        if not answer.strip().lower().startswith("no"):
            continue
        key = (engine.normalise_volume(cells[table.index["Volumename"]]), cells[table.index["Anatomy"]])
        out.setdefault(key, []).extend(split_items(cells[table.index["Finding"]], ""))
    return out


def _clearly_absent(ctx: VolumeContext, phrase: str, sentence: int, path: str) -> bool:
    mentions = ctx.mentions(phrase)
    mine = [m for m in mentions if m.sentence.index == sentence]
    if not mine or any(m.polarity is not Polarity.ABSENT for m in mine):
        return False
    if ctx.view.sentences[sentence].grounded_by != "anatomy":
        return False
    return not any(
        m.polarity is not Polarity.ABSENT and places.compatible(m.nodes, path, m.sentence.blocked) for m in mentions
    )


def missed_negatives(
    table: ReleaseTable,
    audits: Mapping[int, RowAudit],
    volumes: Sequence[tuple[str, str]],
    contexts: Mapping[str, VolumeContext | None],
) -> list[Anchored]:
    """``No.`` rows to add to the presence ``table`` for ``volumes`` ((key, spelling as released), in release
    order)."""
    assert table.kind is TableKind.VQA_PRESENCE
    last_row: dict[str, int] = {}
    for row in table.rows:
        if not row.error:
            last_row[engine.normalise_volume(row.get(table, "Volumename"))] = row.row
    out: list[Anchored] = []
    width = len(table.header)
    have = _no_phrases(table, audits)
    for key, spelled in volumes:
        ctx = contexts.get(key)
        if ctx is None:
            continue
        for path, statement in ctx.view.paths.items():
            existing = have.get((key, path), [])
            phrases: list[str] = []
            sentences = []
            for stated in statement.absent:
                phrase = stated.phrase
                if stated.sentence < 0 or phrase in phrases:
                    continue
                if any(same_finding(phrase, e) for e in existing) or any(same_finding(phrase, p) for p in phrases):
                    continue
                if not _clearly_absent(ctx, phrase, stated.sentence, path):
                    continue
                phrases.append(phrase)
                sentences.append(ctx.view.sentences[stated.sentence])
            if not phrases:
                continue
            cells = [""] * width
            cells[table.index["Volumename"]] = spelled
            cells[table.index["Anatomy"]] = path
            cells[table.index["Finding"]] = ", ".join(phrases)
            cells[table.index["Presence"]] = "No."
            out.append(Anchored(last_row.get(key), AddedRow(table.name, spelled, path, tuple(cells), REASON,
                                                            evidence_of(sentences))))
    return out

"""Storing decisions (idempotent by client key), adjudicating, undoing, and keeping item state current.

Rules:

- a reader decides only items assigned to them (:class:`Forbidden` otherwise, 403); deciding an item again
  replaces their previous decision (kept, marked ``replaced_at``);
- an admin adjudicates only items whose readers disagree;
- the same idempotency key with the same request returns the stored decision; with another request it is a
  :class:`Conflict` (409);
- undo marks the decision ``undone_at``: the item goes back to the reader's open items (lease renewed), or the
  adjudication is lifted.

Each change updates the item's state (reads, complete, disagreement) and the reviewer's counters in the same
transaction, after locking the item row, so two readers deciding one item at once cannot both miss the
disagreement.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from radgenome.anatomy import UnknownNodeError, load_hierarchy
from radgenome.review.queue import LEASE_MINUTES, assignment_of
from radgenome.review.store import VERDICTS, Assignment, Decision, Item, ReviewerStats, Store, User


class DecisionError(ValueError):
    """A decision that cannot be stored (unknown region, a correction without a change, ...): 422."""


class NotFound(DecisionError):
    """Unknown item, or nothing to undo: 404."""


class Forbidden(DecisionError):
    """Not the caller's item to decide: 403."""


class Conflict(DecisionError):
    """An idempotency key reused with another request, or an item that needs no adjudication: 409."""


@dataclass(frozen=True)
class DecisionInput:
    item_id: str
    key: str
    verdict: str
    text: str | None = None
    path: str | None = None
    """Corrected region: a RadGenome path (``lung/lung/right lung/right lung middle lobe``)."""
    mask_wrong: bool = False
    comment: str = ""
    adjudication: bool = False

    def request_hash(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode("utf-8")).hexdigest()


def decision_dict(d: Decision, user_name: str | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "item_id": d.item_id,
        "reviewer": user_name,
        "key": d.key,
        "verdict": d.verdict,
        "text": d.text,
        "path": d.path,
        "node": d.node,
        "mask_wrong": d.mask_wrong,
        "comment": d.comment,
        "adjudication": d.adjudication,
        "created_at": d.created_at.isoformat() + "Z",
        "undone_at": d.undone_at.isoformat() + "Z" if d.undone_at else None,
        "replaced_at": d.replaced_at.isoformat() + "Z" if d.replaced_at else None,
    }


def signature(d: Decision) -> tuple[str, str | None, str | None]:
    """What two readers must agree on: the verdict and any correction."""
    return (d.verdict, (d.text or "").strip() or None, d.path or None)


@dataclass(frozen=True)
class Clean:
    verdict: str
    text: str | None
    path: str | None
    node: str | None


def normalise(item: Item, inp: DecisionInput) -> Clean:
    """The decision as stored: unchanged text or region dropped, accept-with-change made a correction."""
    if inp.verdict not in VERDICTS:
        raise DecisionError(f"verdict must be one of {VERDICTS}")
    text = inp.text.strip() if inp.text is not None else None
    original = item.answer if item.kind == "qa" else item.text
    if text is not None and (not text or text == original.strip()):
        text = None
    path = inp.path.strip() if inp.path else None
    node = None
    if path is not None:
        try:
            node = load_hierarchy().node_of_path(path)
        except UnknownNodeError as exc:
            raise DecisionError(f"unknown region {path!r}") from exc
        if path == item.path:
            path, node = None, None
    verdict = inp.verdict
    if verdict == "correct" and text is None and path is None:
        raise DecisionError("a correction needs a changed text or region")
    if verdict == "accept" and (text is not None or path is not None):
        verdict = "correct"
    if verdict == "reject":
        text, path, node = None, None, None
    return Clean(verdict, text, path, node)


def _current_ids(s: Session, item_id: str) -> list[int]:
    """The readers' current decision ids on an item (an index lookup on ``assignments.item_id``)."""
    return [i for i in s.scalars(select(Assignment.decision_id).where(Assignment.item_id == item_id)) if i is not None]


def refresh_item(s: Session, item: Item) -> None:
    """Recompute ``reads``, ``complete`` and ``disagreement`` from the item's current reads (at most a few).

    Two primary-key lookups rather than a join, so the plan never depends on the planner's table statistics.
    """
    ids = _current_ids(s, item.id)
    current = s.scalars(select(Decision).where(Decision.id.in_(ids))).all() if ids else []
    item.reads = len(current)
    item.complete = item.reads >= item.required
    item.disagreement = item.complete and len({signature(d) for d in current}) > 1


def bump(s: Session, user_id: int, **deltas: int) -> None:
    """Add ``deltas`` to a reviewer's counters in one statement (the row is made when missing)."""
    values = {name: getattr(ReviewerStats, name) + delta for name, delta in deltas.items() if delta}
    if not values:
        return
    done = s.execute(update(ReviewerStats).where(ReviewerStats.user_id == user_id).values(**values))
    if not done.rowcount:  # type: ignore[attr-defined]
        s.add(ReviewerStats(**{"user_id": user_id, "decided": 0, "decisions": 0, "adjudications": 0, **deltas}))
        s.flush()


def _lock_item(s: Session, item_id: str) -> Item | None:
    return s.scalars(select(Item).where(Item.id == item_id).with_for_update()).first()


def _stored(s: Session, user: User, inp: DecisionInput) -> Decision | None:
    """The decision this user already stored under ``inp.key``; Conflict when it came from another request."""
    d = s.scalars(select(Decision).where(Decision.user_id == user.id, Decision.key == inp.key)).first()
    if d is not None and d.request_hash != inp.request_hash():
        raise Conflict(f"idempotency key {inp.key!r} was used for another request")
    return d


def record(store: Store, user: User, inp: DecisionInput) -> tuple[Decision, bool]:
    """Store a read or an adjudication; returns (decision, created). A repeated request returns the stored one."""
    try:
        return _record(store, user, inp)
    except IntegrityError:  # the same key raced in from a concurrent retry: the stored row answers
        with store.read() as s:
            d = _stored(s, user, inp)
        if d is None:
            raise
        return d, False


def _record(store: Store, user: User, inp: DecisionInput) -> tuple[Decision, bool]:
    with store.write() as s:
        item = _lock_item(s, inp.item_id)
        stored = _stored(s, user, inp)
        if stored is not None:
            return stored, False
        if item is None:
            raise NotFound(f"unknown item {inp.item_id!r}")
        now = store.now()
        if inp.adjudication:
            if user.role != "admin":
                raise Forbidden("only admins adjudicate")
            if not item.disagreement:
                raise Conflict("this item's readers do not disagree: nothing to adjudicate")
            assignment = None
        else:
            assignment = assignment_of(s, item.id, user.id)
            if assignment is None:
                raise Forbidden("this item is not assigned to you (claim items first, or your lease ended)")
        clean = normalise(item, inp)
        d = Decision(item_id=item.id, user_id=user.id, key=inp.key, request_hash=inp.request_hash(),
                     verdict=clean.verdict, text=clean.text, path=clean.path, node=clean.node,
                     mask_wrong=inp.mask_wrong, comment=inp.comment.strip(), adjudication=inp.adjudication,
                     created_at=now)
        s.add(d)
        s.flush()
        if assignment is None:  # an adjudication: it replaces an earlier one on the item
            if item.adjudication_id is not None:
                previous = s.get(Decision, item.adjudication_id)
                if previous is not None:
                    previous.replaced_at = now
                    bump(s, previous.user_id, adjudications=-1)
            item.adjudication_id = d.id
            bump(s, user.id, decisions=1, adjudications=1)
        else:  # a read: it replaces the reader's earlier decision on the item
            if assignment.decision_id is not None:
                s.execute(update(Decision).where(Decision.id == assignment.decision_id).values(replaced_at=now))
            bump(s, user.id, decisions=1, decided=int(assignment.decision_id is None))
            assignment.decision_id = d.id
            refresh_item(s, item)
        return d, True


def undo(store: Store, user: User, decision_id: int | None = None, *,
         lease_minutes: float = LEASE_MINUTES) -> Decision:
    """Undo ``decision_id`` (one of the user's standing decisions) or the user's latest standing one."""
    with store.write() as s:
        stmt = select(Decision).where(Decision.user_id == user.id, Decision.undone_at.is_(None),
                                      Decision.replaced_at.is_(None))
        if decision_id is not None:
            stmt = stmt.where(Decision.id == decision_id)
        d = s.scalars(stmt.order_by(Decision.id.desc()).limit(1)).first()
        if d is None:
            raise NotFound("nothing to undo")
        item = _lock_item(s, d.item_id)
        assert item is not None
        s.refresh(d)
        if d.undone_at is not None or d.replaced_at is not None:  # a concurrent request got there first
            raise NotFound("nothing to undo")
        now = store.now()
        d.undone_at = now
        if d.adjudication:
            if item.adjudication_id == d.id:
                item.adjudication_id = None
                bump(s, user.id, adjudications=-1)
        else:
            assignment = assignment_of(s, item.id, user.id)
            if assignment is not None and assignment.decision_id == d.id:
                assignment.decision_id = None
                assignment.expires_at = now + dt.timedelta(minutes=lease_minutes)
                bump(s, user.id, decided=-1)
            refresh_item(s, item)
        return d


def my_history(s: Session, item_id: str, user_id: int) -> list[Decision]:
    return list(s.scalars(select(Decision).where(Decision.item_id == item_id, Decision.user_id == user_id)
                          .order_by(Decision.id)))


def item_history(s: Session, item_id: str) -> list[tuple[Decision, str]]:
    """Every decision on the item with its reviewer's name (for admins)."""
    rows = s.execute(select(Decision, User.name).join(User, User.id == Decision.user_id)
                     .where(Decision.item_id == item_id).order_by(Decision.id)).all()
    return [(d, name) for d, name in rows]


def current_reads(s: Session, item_id: str) -> list[tuple[Decision, str]]:
    """The readers' standing decisions on the item, with their names (for adjudication)."""
    ids = _current_ids(s, item_id)
    if not ids:
        return []
    rows = s.execute(select(Decision, User.name).join(User, User.id == Decision.user_id)
                     .where(Decision.id.in_(ids)).order_by(Decision.id)).all()
    return [(d, name) for d, name in rows]

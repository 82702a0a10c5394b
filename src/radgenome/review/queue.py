"""Items in the store, double reading, and explicit assignment with leases.

- :func:`sync_items` adds the build's items (a hash draw puts a ``double_fraction`` share of them in front of two
  readers, stable across restarts).
- :func:`claim` (``POST /api/queue/claim``) is the only way a reader gets items: it takes free slots in build
  order, at most ``max_open`` undecided items per reader, each with a lease. A lease that ends before the reader
  decides returns the slot to the pool (reclaimed by the next claim); claiming again renews the reader's leases.
- :func:`my_items` (``GET /api/queue``) lists the reader's assignments and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select, true, update
from sqlalchemy.orm import Session

from radgenome.review.sources import ItemSpec
from radgenome.review.store import Assignment, Decision, Item, Meta, Store, User

CLAIM_LIMIT = 100
"""Most items one claim request may take."""
MAX_OPEN = 100
"""Most undecided items a reader may hold."""
LEASE_MINUTES = 60.0
REAP_BATCH = 500
"""Expired leases reclaimed per claim (the rest by the next ones)."""


def needs_two(item_id: str, fraction: float, seed: str = "") -> bool:
    """Whether ``item_id`` is in the double-read fraction (a hash draw: stable across restarts)."""
    if fraction <= 0:
        return False
    if fraction >= 1:
        return True
    draw = int(hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()[:15], 16) / 16**15
    return draw < fraction


def _set_meta(s: Session, key: str, value: str) -> None:
    row = s.get(Meta, key)
    if row is None:
        s.add(Meta(key=key, value=value))
    else:
        row.value = value


def meta_int(s: Session, key: str) -> int:
    row = s.get(Meta, key)
    return int(row.value) if row is not None else 0


def sync_items(store: Store, specs: Sequence[ItemSpec], fraction: float, seed: str = "") -> int:
    """Insert items not yet in the store; re-draw ``required`` when ``fraction`` or ``seed`` changed.

    Returns the number of items added. Runs once at start-up (the only place that reads every item).
    """
    with store.write() as s:
        existing = set(s.scalars(select(Item.id)))
        start = int(s.scalar(select(func.max(Item.order))) or -1) + 1
        rows: list[dict[str, Any]] = []
        for spec in specs:
            if spec.id in existing:
                continue
            existing.add(spec.id)
            required = 2 if needs_two(spec.id, fraction, seed) else 1
            rows.append({**asdict(spec), "order": start + len(rows), "required": required, "assigned": 0,
                         "open": True, "reads": 0, "complete": False, "disagreement": False})
        for i in range(0, len(rows), 5000):
            s.execute(insert(Item), rows[i : i + 5000])
        key = f"{fraction}:{seed}"
        meta = s.get(Meta, "double_fraction")
        if meta is not None and meta.value != key:
            for item in s.scalars(select(Item)):
                item.required = 2 if needs_two(item.id, fraction, seed) else 1
                item.open = item.assigned < item.required
                item.complete = item.reads >= item.required
        _set_meta(s, "double_fraction", key)
        n, required_sum = s.execute(select(func.count(), func.coalesce(func.sum(Item.required), 0))).one()
        _set_meta(s, "items", str(int(n)))
        _set_meta(s, "reads_required", str(int(required_sum)))
    return len(rows)


@dataclass(frozen=True)
class Filters:
    split: str | None = None
    kind: str | None = None
    """``sentence``, ``qa`` or a QA kind (``presence``, ...)."""
    region: str | None = None
    flagged: bool | None = None


def filtered(stmt: Any, f: Filters) -> Any:
    if f.split:
        stmt = stmt.where(Item.split == f.split)
    if f.kind:
        stmt = stmt.where(Item.kind == f.kind) if f.kind in ("sentence", "qa") else stmt.where(Item.qa_kind == f.kind)
    if f.region:
        stmt = stmt.where(Item.region == f.region)
    if f.flagged is not None:
        stmt = stmt.where(Item.flagged == f.flagged)
    return stmt


# ------------------------------------------------------------------------------------------------ leases
def reap_expired(s: Session, now: dt.datetime, batch: int = REAP_BATCH) -> int:
    """Return the slots of expired, undecided assignments to the pool; returns how many."""
    rows = s.execute(
        select(Assignment.id, Assignment.item_id)
        .where(Assignment.decision_id.is_(None), Assignment.expires_at <= now)
        .order_by(Assignment.expires_at).limit(batch).with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0
    s.execute(delete(Assignment).where(Assignment.id.in_([r.id for r in rows])))
    for r in rows:
        s.execute(update(Item).where(Item.id == r.item_id)
                  .values(assigned=Item.assigned - 1, open=True))
    return len(rows)


def renew_leases(s: Session, user: User, now: dt.datetime, lease: dt.timedelta) -> None:
    s.execute(update(Assignment).where(Assignment.user_id == user.id, Assignment.decision_id.is_(None),
                                       Assignment.expires_at > now)
              .values(expires_at=now + lease))


def open_count(s: Session, user: User, now: dt.datetime) -> int:
    """The reader's undecided items with a live lease (at most ``max_open``: a bounded count)."""
    return int(s.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.user_id == user.id, Assignment.decision_id.is_(None), Assignment.expires_at > now)) or 0)


@dataclass(frozen=True)
class ClaimResult:
    claimed: int
    open: int
    """Undecided items the reader now holds."""
    lease_until: dt.datetime


def claim(store: Store, user: User, f: Filters, want: int, *, max_open: int = MAX_OPEN,
          lease_minutes: float = LEASE_MINUTES) -> ClaimResult:
    """Assign up to ``want`` free items matching ``f`` to ``user`` (never beyond ``max_open`` undecided ones).

    Expired leases are reclaimed first and the reader's own leases renewed. A slot is taken by inserting
    ``(item, slot)`` and bumping ``items.assigned`` in the same transaction, on a row this transaction holds
    (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so concurrent claims never
    over-assign an item.
    """
    lease = dt.timedelta(minutes=lease_minutes)
    with store.write() as s:
        now = store.now()
        reap_expired(s, now)
        renew_leases(s, user, now, lease)
        held = open_count(s, user, now)
        room = max(0, min(want, max_open - held))
        claimed = 0
        if room:
            mine = exists().where(and_(Assignment.item_id == Item.id, Assignment.user_id == user.id))
            stmt = filtered(select(Item).where(Item.open == true()).where(~mine), f)
            candidates = s.scalars(stmt.order_by(Item.order).limit(room).with_for_update(skip_locked=True)).all()
            for item in candidates:
                if item.assigned >= item.required:
                    continue
                taken = set(s.scalars(select(Assignment.slot).where(Assignment.item_id == item.id)))
                slot = next(i for i in range(item.required + len(taken)) if i not in taken)
                s.add(Assignment(item_id=item.id, user_id=user.id, slot=slot, created_at=now,
                                 expires_at=now + lease))
                item.assigned += 1
                item.open = item.assigned < item.required
                claimed += 1
        return ClaimResult(claimed, held + claimed, now + lease)


# ------------------------------------------------------------------------------------------------ listing
def my_items(s: Session, user: User, f: Filters, *, state: str = "open", limit: int = 50,
             now: dt.datetime) -> list[tuple[Item, Assignment, Decision | None]]:
    """The reader's assignments matching ``f``: ``open`` (undecided, lease live) in build order, or ``decided``
    (latest first), each with the reader's current decision."""
    stmt = filtered(select(Item, Assignment, Decision).join(Assignment, Assignment.item_id == Item.id)
                    .outerjoin(Decision, Decision.id == Assignment.decision_id)
                    .where(Assignment.user_id == user.id), f)
    if state == "decided":
        stmt = stmt.where(Assignment.decision_id.is_not(None)).order_by(Assignment.decision_id.desc())
    else:
        stmt = stmt.where(Assignment.decision_id.is_(None), Assignment.expires_at > now).order_by(Item.order)
    return [(i, a, d) for i, a, d in s.execute(stmt.limit(limit)).all()]


def assignment_of(s: Session, item_id: str, user_id: int, *, lock: bool = False) -> Assignment | None:
    stmt = select(Assignment).where(Assignment.item_id == item_id, Assignment.user_id == user_id)
    return s.scalars(stmt.with_for_update() if lock else stmt).first()

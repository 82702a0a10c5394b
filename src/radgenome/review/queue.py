"""Review queue: loading items into the store, double assignment, claiming, filters and progress."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from radgenome.review.sources import ItemSpec
from radgenome.review.store import Assignment, Decision, Item, Meta, Store, User

CLAIM_BATCH = 20


def needs_two(item_id: str, fraction: float, seed: str = "") -> bool:
    """Whether ``item_id`` is in the double-assigned fraction (a hash draw: stable across restarts)."""
    if fraction <= 0:
        return False
    if fraction >= 1:
        return True
    draw = int(hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()[:15], 16) / 16**15
    return draw < fraction


def sync_items(store: Store, specs: Sequence[ItemSpec], fraction: float, seed: str = "") -> int:
    """Insert items not yet in the store; re-draw ``required`` when ``fraction`` changed. Returns items added."""
    with store.session() as s:
        existing = set(s.scalars(select(Item.id)))
        added = 0
        for order, spec in enumerate(specs):
            if spec.id in existing:
                continue
            existing.add(spec.id)
            s.add(Item(order=order, required=2 if needs_two(spec.id, fraction, seed) else 1, **asdict(spec)))
            added += 1
        key = f"{fraction}:{seed}"
        meta = s.get(Meta, "double_fraction")
        if meta is None:
            s.add(Meta(key="double_fraction", value=key))
        elif meta.value != key:
            meta.value = key
            for item in s.scalars(select(Item)):
                item.required = 2 if needs_two(item.id, fraction, seed) else 1
    return added


@dataclass(frozen=True)
class Filters:
    split: str | None = None
    kind: str | None = None
    """``sentence``, ``qa`` or a QA kind (``presence``, ...)."""
    region: str | None = None
    flagged: bool | None = None
    disagreement: bool = False


def _filtered(stmt, f: Filters):  # type: ignore[no-untyped-def]
    if f.split:
        stmt = stmt.where(Item.split == f.split)
    if f.kind:
        stmt = stmt.where(Item.kind == f.kind) if f.kind in ("sentence", "qa") else stmt.where(Item.qa_kind == f.kind)
    if f.region:
        stmt = stmt.where(Item.region == f.region)
    if f.flagged is not None:
        stmt = stmt.where(Item.flagged == f.flagged)
    return stmt


def active_decisions(s: Session, item_ids: Sequence[str] | None = None) -> dict[tuple[str, int], Decision]:
    """The latest not-undone decision of every (item, reviewer)."""
    stmt = select(Decision).where(Decision.undone_at.is_(None))
    if item_ids is not None:
        stmt = stmt.where(Decision.item_id.in_(list(item_ids)))
    latest: dict[tuple[str, int], Decision] = {}
    for d in s.scalars(stmt.order_by(Decision.id)):
        latest[(d.item_id, d.user_id)] = d
    return latest


def signature(d: Decision) -> tuple[str, str | None, str | None]:
    """What two reviewers must agree on: the verdict and any correction."""
    return (d.verdict, (d.text or "").strip() or None, d.node or None)


def disagreeing_items(s: Session) -> set[str]:
    by_item: dict[str, set[tuple[str, str | None, str | None]]] = {}
    for (item, _user), d in active_decisions(s).items():
        by_item.setdefault(item, set()).add(signature(d))
    return {item for item, sigs in by_item.items() if len(sigs) > 1}


def claim(s: Session, user: User, f: Filters, want: int) -> int:
    """Assign up to ``want`` new items matching ``f`` to ``user``; returns how many were claimed.

    A slot is taken by inserting ``(item, slot)``; the unique constraint makes a concurrent claim of the same
    slot fail, and that item is skipped, so an item never gets more reviewers than it needs.
    """
    taken = (
        select(Assignment.item_id, func.count(Assignment.id).label("n"))
        .group_by(Assignment.item_id)
        .subquery()
    )
    mine = select(Assignment.item_id).where(Assignment.user_id == user.id)
    stmt = (
        select(Item.id, func.coalesce(taken.c.n, 0))
        .outerjoin(taken, taken.c.item_id == Item.id)
        .where(func.coalesce(taken.c.n, 0) < Item.required)
        .where(Item.id.not_in(mine))
        .order_by(Item.order)
        .limit(want * 3)
    )
    claimed = 0
    for item_id, n in s.execute(_filtered(stmt, f)).all():
        if claimed >= want:
            break
        try:
            with s.begin_nested():
                s.add(Assignment(item_id=item_id, user_id=user.id, slot=int(n)))
            claimed += 1
        except IntegrityError:
            continue
    s.commit()
    return claimed


def queue(s: Session, user: User, f: Filters, limit: int = CLAIM_BATCH) -> list[Item]:
    """The reviewer's assigned items matching ``f``: undecided first, then decided; claims more when short.

    With ``disagreement``: items whose reviewers disagree (every such item for an admin, for adjudication;
    the reviewer's own otherwise).
    """
    if f.disagreement:
        ids = disagreeing_items(s)
        stmt = _filtered(select(Item).where(Item.id.in_(ids)), f)
        if user.role != "admin":
            stmt = stmt.where(Item.id.in_(select(Assignment.item_id).where(Assignment.user_id == user.id)))
        return list(s.scalars(stmt.order_by(Item.order).limit(limit)))
    decided = select(Decision.item_id).where(and_(Decision.user_id == user.id, Decision.undone_at.is_(None)))
    assigned = select(Assignment.item_id).where(Assignment.user_id == user.id)
    open_stmt = _filtered(select(Item).where(Item.id.in_(assigned)).where(Item.id.not_in(decided)), f)
    items = list(s.scalars(open_stmt.order_by(Item.order).limit(limit)))
    if len(items) < limit and claim(s, user, f, limit - len(items)):
        items = list(s.scalars(open_stmt.order_by(Item.order).limit(limit)))
    return items


def progress(s: Session) -> list[dict[str, object]]:
    """Per reviewer: items assigned, items decided (an active decision), decisions stored (history included)."""
    assigned = dict(s.execute(select(Assignment.user_id, func.count()).group_by(Assignment.user_id)).all())
    stored = dict(s.execute(select(Decision.user_id, func.count()).group_by(Decision.user_id)).all())
    decided: dict[int, int] = {}
    for (_item, user_id) in active_decisions(s):
        decided[user_id] = decided.get(user_id, 0) + 1
    out = []
    for user in s.scalars(select(User).order_by(User.name)):
        out.append({
            "reviewer": user.name,
            "role": user.role,
            "assigned": int(assigned.get(user.id, 0)),
            "decided": decided.get(user.id, 0),
            "decisions": int(stored.get(user.id, 0)),
        })
    return out


def totals(s: Session) -> dict[str, int]:
    total = s.scalar(select(func.count()).select_from(Item)) or 0
    decided = len({item for item, _ in active_decisions(s)})
    double = s.scalar(select(func.count()).select_from(Item).where(Item.required == 2)) or 0
    return {"items": int(total), "decided": decided, "double_assigned": int(double)}

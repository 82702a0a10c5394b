"""Storing decisions (idempotent by client key) and undoing them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.review.store import VERDICTS, Decision, Item, User, utcnow


class DecisionError(ValueError):
    """A decision that cannot be stored (unknown item, bad verdict, unknown region)."""


@dataclass(frozen=True)
class DecisionInput:
    item_id: str
    key: str
    verdict: str
    text: str | None = None
    node: str | None = None
    mask_wrong: bool = False
    comment: str = ""


def decision_dict(d: Decision, user_name: str | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "item_id": d.item_id,
        "reviewer": user_name,
        "key": d.key,
        "verdict": d.verdict,
        "text": d.text,
        "node": d.node,
        "mask_wrong": d.mask_wrong,
        "comment": d.comment,
        "created_at": d.created_at.isoformat() + "Z",
        "undone_at": d.undone_at.isoformat() + "Z" if d.undone_at else None,
    }


def normalise(s: Session, user: User, inp: DecisionInput) -> DecisionInput:
    item = s.get(Item, inp.item_id)
    if item is None:
        raise DecisionError(f"unknown item {inp.item_id!r}")
    if inp.verdict not in VERDICTS:
        raise DecisionError(f"verdict must be one of {VERDICTS}")
    text = inp.text.strip() if inp.text is not None else None
    original = item.answer if item.kind == "qa" else item.text
    if text is not None and (not text or text == original.strip()):
        text = None
    node = inp.node.strip() if inp.node else None
    if node is not None:
        if node not in load_hierarchy() and node not in TOP_LEVEL_REGIONS:
            raise DecisionError(f"unknown region {node!r}")
        if node == item.node:
            node = None
    verdict = inp.verdict
    if verdict == "correct" and text is None and node is None:
        raise DecisionError("a correction needs a changed text or region")
    if verdict == "accept" and (text is not None or node is not None):
        verdict = "correct"
    if verdict == "reject":
        text, node = None, None
    return DecisionInput(inp.item_id, inp.key, verdict, text, node, inp.mask_wrong, inp.comment.strip())


def record(s: Session, user: User, inp: DecisionInput) -> tuple[Decision, bool]:
    """Store a decision; returns (decision, created). A key already used by this user returns the stored one."""
    existing = s.scalars(select(Decision).where(Decision.user_id == user.id, Decision.key == inp.key)).first()
    if existing is not None:
        return existing, False
    clean = normalise(s, user, inp)
    d = Decision(
        item_id=clean.item_id, user_id=user.id, key=clean.key, verdict=clean.verdict, text=clean.text,
        node=clean.node, mask_wrong=clean.mask_wrong, comment=clean.comment, created_at=utcnow(),
    )
    s.add(d)
    try:
        s.commit()
    except IntegrityError:  # the same key raced in from a retry: keep the first
        s.rollback()
        stored = s.scalars(select(Decision).where(Decision.user_id == user.id, Decision.key == inp.key)).one()
        return stored, False
    return d, True


def undo(s: Session, user: User, decision_id: int | None = None) -> Decision | None:
    """Undo ``decision_id`` (one of the user's), or the user's latest active decision; None if there is none."""
    stmt = select(Decision).where(Decision.user_id == user.id, Decision.undone_at.is_(None))
    if decision_id is not None:
        stmt = stmt.where(Decision.id == decision_id)
    d = s.scalars(stmt.order_by(Decision.id.desc())).first()
    if d is None:
        return None
    d.undone_at = utcnow()
    s.commit()
    return d


def history(s: Session, item_id: str) -> list[dict[str, Any]]:
    rows = s.execute(
        select(Decision, User.name).join(User, User.id == Decision.user_id).where(Decision.item_id == item_id)
        .order_by(Decision.id)
    ).all()
    return [decision_dict(d, name) for d, name in rows]

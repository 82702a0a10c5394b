"""What every route needs: the store, sessions, the build's cases and volumes, settings; and the callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from radgenome.anatomy import Hierarchy
from radgenome.review.auth import Auth, Principal
from radgenome.review.sources import CaseIndex
from radgenome.review.store import Item, Store
from radgenome.review.volumes import Volumes


@dataclass
class ReviewContext:
    out: Path
    store: Store
    auth: Auth
    cases: CaseIndex
    volumes: Volumes
    hierarchy: Hierarchy
    lease_minutes: float
    max_open: int
    problems: list[str]
    """Rows of the build that could not become items (named at start-up)."""
    filters: dict[str, Any] = field(default_factory=dict)
    """Filter values of the items (see :func:`radgenome.review.api.filter_values`)."""


def context(request: Request) -> ReviewContext:
    ctx: ReviewContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ReviewContext, Depends(context)]


def principal(request: Request) -> Principal:
    """The caller (401 without valid credentials, 403 on a CSRF mismatch)."""
    return context(request).auth.principal(request)


Who = Annotated[Principal, Depends(principal)]


def admin(who: Who) -> Principal:
    if who.user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return who


AdminWho = Annotated[Principal, Depends(admin)]


def item_dict(item: Item) -> dict[str, Any]:
    """An item as the API shows it to anyone allowed to see it (no decisions)."""
    return {
        "id": item.id,
        "kind": item.kind,
        "qa_kind": item.qa_kind,
        "volume": item.volume,
        "case_id": item.stem,
        "split": item.split,
        "sentence_index": item.sentence_index,
        "sentence_indices": [int(i) for i in item.sentence_indices.split(",") if i],
        "node": item.node,
        "path": item.path,
        "region": item.region,
        "text": item.text,
        "answer": item.answer,
        "flagged": item.flagged,
        "flags": [f for f in item.flags.split("\n") if f],
        "mask_status": item.mask_status,
    }


def valid_id(item_id: str) -> bool:
    return len(item_id) == 16 and all(c in "0123456789abcdef" for c in item_id)


def valid_case(case_id: str) -> bool:
    return 0 < len(case_id) <= 200 and all(c.isalnum() or c in "_.-" for c in case_id) and ".." not in case_id

"""Progress figures from the per-reviewer counters: O(reviewers), whatever the number of decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from radgenome.review.queue import meta_int, open_count
from radgenome.review.store import Assignment, Item, ReviewerStats, User


def _row(user: User, stats: ReviewerStats | None, open_items: int) -> dict[str, Any]:
    return {
        "reviewer": user.name,
        "role": user.role,
        "open": open_items,
        "decided": stats.decided if stats else 0,
        "decisions": stats.decisions if stats else 0,
        "adjudications": stats.adjudications if stats else 0,
    }


def my_progress(s: Session, user: User, now: dt.datetime) -> dict[str, Any]:
    stats = s.get(ReviewerStats, user.id)
    return _row(user, stats, open_count(s, user, now))


def totals(s: Session) -> dict[str, int]:
    """Items, reads the double-reading plan needs, and reads done (sum of the reviewers' counters)."""
    done = s.scalar(select(func.coalesce(func.sum(ReviewerStats.decided), 0))) or 0
    return {"items": meta_int(s, "items"), "reads_required": meta_int(s, "reads_required"), "reads_done": int(done)}


def reviewers_progress(s: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Every reviewer's figures (for admins): open items, reads, decisions stored, adjudications."""
    open_by_user = dict(s.execute(
        select(Assignment.user_id, func.count()).where(Assignment.decision_id.is_(None), Assignment.expires_at > now)
        .group_by(Assignment.user_id)).all())
    rows = s.execute(select(User, ReviewerStats).outerjoin(ReviewerStats, ReviewerStats.user_id == User.id)
                     .order_by(User.name)).all()
    return [_row(u, st, int(open_by_user.get(u.id, 0))) for u, st in rows]


def item_states(s: Session) -> dict[str, int]:
    """Items complete, in disagreement (open / adjudicated) and double-read (admin overview)."""
    complete = s.scalar(select(func.count()).select_from(Item).where(Item.complete == true())) or 0
    disagree = s.scalar(select(func.count()).select_from(Item).where(
        Item.disagreement == true(), Item.adjudication_id.is_(None))) or 0
    adjudicated = s.scalar(select(func.count()).select_from(Item).where(Item.adjudication_id.is_not(None))) or 0
    double = s.scalar(select(func.count()).select_from(Item).where(Item.required == 2)) or 0
    return {"complete": int(complete), "disagreements_open": int(disagree), "adjudicated": int(adjudicated),
            "double_read": int(double)}

"""Inter-reviewer agreement: Cohen's κ on the verdicts of items seen by two reviewers, per item kind and region."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from radgenome.review.store import Assignment, Decision, Item


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's κ of two raters' labels on the same items; None when undefined (no items, or chance agreement 1)."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def kind_label(item: Item) -> str:
    return f"qa/{item.qa_kind}" if item.kind == "qa" and item.qa_kind else item.kind


def paired_verdicts(s: Session) -> list[tuple[Item, str, str]]:
    """(item, slot-0 reader's verdict, slot-1 reader's verdict) for every double-read item both readers decided.

    Reads only the double-read items (an index on the item's state), not the whole decision history.
    """
    rows = s.execute(
        select(Item, Assignment.slot, Decision.verdict)
        .join(Assignment, Assignment.item_id == Item.id).join(Decision, Decision.id == Assignment.decision_id)
        .where(Item.complete == true(), Item.required >= 2).order_by(Item.order, Assignment.slot)
    ).all()
    by_item: dict[str, tuple[Item, list[str]]] = {}
    for item, _slot, verdict in rows:
        by_item.setdefault(item.id, (item, []))[1].append(verdict)
    return [(item, v[0], v[1]) for item, v in by_item.values() if len(v) >= 2]


def _row(group: str, name: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    agree = sum(x == y for x, y in pairs)
    return {"group": group, "name": name, "items": len(pairs), "agree": agree, "kappa": cohen_kappa(a, b)}


def agreement_report(s: Session) -> dict[str, Any]:
    """κ overall, per item kind and per top-level region, with the item counts behind each."""
    rows = paired_verdicts(s)
    by_kind: dict[str, list[tuple[str, str]]] = {}
    by_region: dict[str, list[tuple[str, str]]] = {}
    for item, va, vb in rows:
        by_kind.setdefault(kind_label(item), []).append((va, vb))
        by_region.setdefault(item.region or "(none)", []).append((va, vb))
    table = [_row("all", "all", [(va, vb) for _, va, vb in rows])]
    table += [_row("kind", k, v) for k, v in sorted(by_kind.items())]
    table += [_row("region", k, v) for k, v in sorted(by_region.items())]
    return {"pairs": len(rows), "rows": table}

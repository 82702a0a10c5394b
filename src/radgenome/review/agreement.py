"""Inter-reviewer agreement: Cohen's κ on the verdicts of items seen by two reviewers, per item kind and region."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from radgenome.review.queue import active_decisions
from radgenome.review.store import Item


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
    """(item, first reviewer's verdict, second reviewer's verdict) for every item two reviewers decided.

    With more than two reviewers, the first two to decide (by their latest decision's id) are paired.
    """
    by_item: dict[str, list[tuple[int, str]]] = {}
    for (item_id, _user), d in active_decisions(s).items():
        by_item.setdefault(item_id, []).append((d.id, d.verdict))
    pairs = {k: sorted(v)[:2] for k, v in by_item.items() if len(v) >= 2}
    if not pairs:
        return []
    items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(list(pairs))))}
    return [(items[k], v[0][1], v[1][1]) for k, v in sorted(pairs.items(), key=lambda kv: items[kv[0]].order)]


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

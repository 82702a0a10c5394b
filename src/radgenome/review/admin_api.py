"""The admin API: progress per reviewer, agreement, users, disagreement adjudication, the verified export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, true

from radgenome.review import decisions as dec
from radgenome.review.agreement import agreement_report
from radgenome.review.api import decision_response
from radgenome.review.bodies import DecisionBody
from radgenome.review.context import AdminWho, Ctx, item_dict
from radgenome.review.export import export_zip
from radgenome.review.progress import item_states, reviewers_progress, totals
from radgenome.review.store import Item, User

router = APIRouter(prefix="/api", tags=["admin"])


@router.get("/agreement")
def agreement(ctx: Ctx, who: AdminWho) -> dict[str, Any]:
    with ctx.store.read() as s:
        return agreement_report(s)


@router.get("/users")
def users(ctx: Ctx, who: AdminWho) -> list[dict[str, str]]:
    with ctx.store.read() as s:
        return [{"name": u.name, "role": u.role} for u in s.scalars(select(User).order_by(User.name))]


@router.get("/admin/progress")
def admin_progress(ctx: Ctx, who: AdminWho) -> dict[str, Any]:
    with ctx.store.read() as s:
        return {"reviewers": reviewers_progress(s, ctx.store.now()), "totals": {**totals(s), **item_states(s)}}


@router.get("/admin/adjudication")
def adjudication_queue(ctx: Ctx, who: AdminWho, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    """Items whose readers disagree and that no admin has settled, in build order, with the readers' decisions."""
    with ctx.store.read() as s:
        items = s.scalars(select(Item).where(Item.disagreement == true(), Item.adjudication_id.is_(None))
                          .order_by(Item.order).limit(limit)).all()
        out = []
        for item in items:
            reads = [dec.decision_dict(d, name) for d, name in dec.current_reads(s, item.id)]
            out.append({**item_dict(item), "reads": reads})
    return {"items": out}


@router.post("/adjudications", status_code=201)
def post_adjudication(body: DecisionBody, ctx: Ctx, who: AdminWho) -> JSONResponse:
    """An admin's decision on an item whose readers disagree; it settles the item for the export."""
    inp = dec.DecisionInput(body.item_id, body.key, body.verdict, body.text, body.path, body.mask_wrong,
                            body.comment, adjudication=True)
    return decision_response(ctx, who.user, inp)


@router.post("/admin/export")
def export(ctx: Ctx, who: AdminWho) -> Response:
    """The verified tables (as ``radgenome export-verified`` writes them) in a zip archive."""
    data, summary = export_zip(ctx.out, ctx.store)
    counts = (f"exported={summary.exported}; qa_pairs={summary.qa_pairs}; rejected={summary.rejected}; "
              f"disagreements={summary.disagreements}; incomplete={summary.incomplete}; undecided={summary.undecided}")
    return Response(data, media_type="application/zip", headers={
        "content-disposition": 'attachment; filename="verified.zip"', "x-export-summary": counts})

"""The reviewer's API: claim and list items, read an item (blind), fetch CT and masks, decide, undo, progress.

Blind reading: an item shows a reader only their own decisions. An admin sees every decision on an item they
do not read themselves (or once it is complete), for adjudication. GETs never change state.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import select

from radgenome.anatomy import UnknownNodeError, path_sort_key
from radgenome.review import decisions as dec
from radgenome.review.bodies import ClaimBody, DecisionBody, UndoBody
from radgenome.review.context import Ctx, ReviewContext, Who, item_dict, valid_case, valid_id
from radgenome.review.progress import my_progress, reviewers_progress, totals
from radgenome.review.queue import Filters, assignment_of, claim, my_items
from radgenome.review.store import Assignment, Decision, Item, User
from radgenome.review.volumes import MaskBytes, NoVolumeError

router = APIRouter(prefix="/api", tags=["api"])

Param = Annotated[str | None, Query(max_length=64)]


def _filters(split: str | None, kind: str | None, region: str | None, flagged: bool | None) -> Filters:
    return Filters(split or None, kind or None, region or None, flagged)


@router.get("/health")
def health(ctx: Ctx) -> dict[str, Any]:
    return {"ok": True, "cases": len(ctx.cases)}


@router.get("/me")
def me(who: Who) -> dict[str, Any]:
    return {"name": who.user.name, "role": who.user.role, "csrf": who.csrf}


def filter_values(ctx: ReviewContext) -> dict[str, Any]:
    """Splits, kinds and regions present among the items (read once at start-up: items change only then)."""
    with ctx.store.read() as s:
        rows = s.execute(select(Item.split, Item.kind, Item.qa_kind, Item.region).distinct()).all()
    return {
        "splits": sorted({r[0] for r in rows}),
        "kinds": sorted({r[1] for r in rows} | {r[2] for r in rows if r[2]}),
        "regions": sorted({r[3] for r in rows if r[3]}, key=path_sort_key),
    }


@router.get("/filters")
def filters(ctx: Ctx, who: Who) -> dict[str, Any]:
    return ctx.filters


@router.get("/regions")
def regions(ctx: Ctx, who: Who) -> list[dict[str, Any]]:
    """The region hierarchy as RadGenome paths (for the region chooser), parents before children."""
    return [{"path": p, "node": p.rsplit("/", 1)[-1], "depth": p.count("/")} for p in ctx.hierarchy.all_paths()]


def _queue_entry(item: Item, a: Assignment, d: Decision | None) -> dict[str, Any]:
    return {**item_dict(item), "lease_until": a.expires_at.isoformat() + "Z",
            "verdict": d.verdict if d is not None else None}


@router.post("/queue/claim")
def post_claim(body: ClaimBody, ctx: Ctx, who: Who) -> dict[str, Any]:
    """Take up to ``limit`` free items (within the per-reader bound); renews the caller's leases."""
    f = _filters(body.split, body.kind, body.region, body.flagged)
    result = claim(ctx.store, who.user, f, body.limit, max_open=ctx.max_open, lease_minutes=ctx.lease_minutes)
    with ctx.store.read() as s:
        items = my_items(s, who.user, f, limit=ctx.max_open, now=ctx.store.now())
    return {"claimed": result.claimed, "open": result.open, "max_open": ctx.max_open,
            "lease_until": result.lease_until.isoformat() + "Z", "items": [_queue_entry(*r) for r in items]}


@router.get("/queue")
def get_queue(
    ctx: Ctx, who: Who, split: Param = None, kind: Param = None, region: Param = None, flagged: bool | None = None,
    state: Annotated[str, Query(pattern="^(open|decided)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The caller's items: ``open`` (undecided, in build order) or ``decided`` (latest first). Claims nothing."""
    with ctx.store.read() as s:
        rows = my_items(s, who.user, _filters(split, kind, region, flagged), state=state, limit=limit,
                        now=ctx.store.now())
    return {"items": [_queue_entry(*r) for r in rows]}


@router.get("/progress")
def get_progress(ctx: Ctx, who: Who) -> dict[str, Any]:
    now = ctx.store.now()
    with ctx.store.read() as s:
        mine = my_progress(s, who.user, now)
        out: dict[str, Any] = {"me": mine, "totals": totals(s)}
        if who.user.role == "admin":
            out["reviewers"] = reviewers_progress(s, now)
    return out


def _item_access(ctx: ReviewContext, who: Who, item_id: str) -> tuple[Item, Assignment | None]:
    """The item and the caller's assignment on it; 404 for an unknown id, 403 for a reader it is not assigned to."""
    if not valid_id(item_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such item")
    with ctx.store.read() as s:
        item = s.get(Item, item_id)
        if item is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such item")
        assignment = assignment_of(s, item_id, who.user.id)
    if assignment is None and who.user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this item is not assigned to you")
    return item, assignment


@router.get("/items/{item_id}")
def get_item(item_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    item, assignment = _item_access(ctx, who, item_id)
    out = item_dict(item)
    rec = ctx.cases.record(item.stem)
    highlight = set(out["sentence_indices"])
    out["report"] = [{"index": s.index, "section": s.section.value, "text": s.text,
                      "highlight": s.index in highlight} for s in rec.sentences]
    out["has_ct"] = _exists(ctx.volumes.ct_path, item.stem)
    out["has_mask"] = bool(item.path or item.node) and _exists(ctx.volumes.labelmap_path, item.stem)
    out["reader"] = assignment is not None
    out["lease_until"] = assignment.expires_at.isoformat() + "Z" if assignment and not assignment.decision_id else None
    with ctx.store.read() as s:
        mine = dec.my_history(s, item_id, who.user.id)
        out["history"] = [dec.decision_dict(d, who.user.name) for d in mine]
        out["current"] = next((dec.decision_dict(d, who.user.name) for d in mine
                               if assignment is not None and d.id == assignment.decision_id), None)
        out["latest"] = out["history"][-1] if out["history"] else None
        # an admin who does not read this item (or once it is complete) sees everyone's decisions
        if who.user.role == "admin" and (assignment is None or item.complete):
            out["history"] = [dec.decision_dict(d, name) for d, name in dec.item_history(s, item_id)]
            out["reads"] = [dec.decision_dict(d, name) for d, name in dec.current_reads(s, item_id)]
            out["disagreement"] = item.disagreement
            out["adjudication_id"] = item.adjudication_id
    return out


def _mask(ctx: ReviewContext, item: Item, path: str | None) -> MaskBytes:
    if path is not None:
        try:
            ctx.hierarchy.node_of_path(path)
        except UnknownNodeError as exc:
            raise HTTPException(422, "unknown region path") from exc
    target = path or item.path or item.node
    if not target:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this item has no region")
    try:
        return ctx.volumes.mask(item.stem, target)
    except NoVolumeError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


PathParam = Annotated[str | None, Query(max_length=512)]


@router.get("/items/{item_id}/mask-info")
def mask_info(item_id: str, ctx: Ctx, who: Who, path: PathParam = None) -> dict[str, Any]:
    item, _ = _item_access(ctx, who, item_id)
    m = _mask(ctx, item, path)
    return {"voxels": m.voxels, "centroid_mm": m.centroid_mm, "path": path or item.path}


@router.get("/items/{item_id}/mask.nii.gz")
def mask(item_id: str, ctx: Ctx, who: Who, path: PathParam = None) -> Response:
    item, _ = _item_access(ctx, who, item_id)
    m = _mask(ctx, item, path)
    return Response(m.data, media_type="application/gzip", headers={"cache-control": "private, max-age=600"})


@router.get("/cases/{case_id}/ct.nii.gz")
def ct(case_id: str, ctx: Ctx, who: Who) -> Response:
    if not valid_case(case_id) or case_id not in ctx.cases:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    try:
        path = ctx.volumes.ct_path(case_id)
    except NoVolumeError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    headers = {"cache-control": "private, max-age=600"}
    if path.is_dir():  # a DICOM series: converted to NIfTI once
        return Response(ctx.volumes.ct_dicom_bytes(case_id), media_type="application/gzip", headers=headers)
    media = "application/gzip" if path.name.endswith(".gz") else "application/octet-stream"
    return FileResponse(path, media_type=media, headers=headers)


def decision_response(ctx: ReviewContext, user: User, inp: dec.DecisionInput) -> JSONResponse:
    """Store ``inp`` and answer 201 (stored) or 200 (already stored under this key); errors as 4xx."""
    try:
        d, created = dec.record(ctx.store, user, inp)
    except dec.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except dec.Forbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except dec.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except dec.DecisionError as exc:
        raise HTTPException(422, str(exc)) from exc
    return JSONResponse(dec.decision_dict(d, user.name), status_code=201 if created else 200)


@router.post("/decisions", status_code=201)
def post_decision(body: DecisionBody, ctx: Ctx, who: Who) -> JSONResponse:
    inp = dec.DecisionInput(body.item_id, body.key, body.verdict, body.text, body.path, body.mask_wrong,
                            body.comment)
    return decision_response(ctx, who.user, inp)


@router.post("/decisions/undo")
def post_undo(body: UndoBody, ctx: Ctx, who: Who) -> dict[str, Any]:
    try:
        d = dec.undo(ctx.store, who.user, body.decision_id, lease_minutes=ctx.lease_minutes)
    except dec.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return dec.decision_dict(d, who.user.name)


def _exists(fn: Any, case_id: str) -> bool:
    try:
        fn(case_id)
    except (NoVolumeError, KeyError):
        return False
    return True

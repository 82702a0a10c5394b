"""The review web app (FastAPI): login, queue, item details, CT/mask bytes by id, decisions, agreement.

``create_app(OUT, db_url)`` loads the build's case records and QA pairs, syncs the items into the store and
returns the app. Every ``/api/*`` route except ``GET /api/health`` needs a session cookie or a bearer token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from radgenome.anatomy import load_hierarchy, path_sort_key
from radgenome.review import decisions as dec
from radgenome.review.agreement import agreement_report
from radgenome.review.assets import STATIC_DIR, niivue_path
from radgenome.review.auth import SESSION_COOKIE, SESSION_MAX_AGE, Auth, Principal
from radgenome.review.queue import Filters, disagreeing_items, progress, queue, sync_items, totals
from radgenome.review.security import MAX_BODY_BYTES, SecurityMiddleware
from radgenome.review.sources import all_items, load_records
from radgenome.review.store import Item, Store, User
from radgenome.review.volumes import NoVolumeError, Volumes

ID_PATTERN = r"^[0-9a-f]{16}$"
CASE_PATTERN = r"^[A-Za-z0-9_.\-]{1,200}$"


class LoginBody(BaseModel):
    token: str = Field(min_length=1, max_length=256)


class DecisionBody(BaseModel):
    item_id: str = Field(pattern=ID_PATTERN)
    key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    verdict: Literal["accept", "reject", "correct"]
    text: str | None = Field(default=None, max_length=4000)
    node: str | None = Field(default=None, max_length=128)
    mask_wrong: bool = False
    comment: str = Field(default="", max_length=4000)


class UndoBody(BaseModel):
    decision_id: int | None = None


def principal(request: Request) -> Principal:
    """The caller (401 without valid credentials, 403 on a CSRF mismatch)."""
    return request.app.state.auth.principal(request)


Who = Annotated[Principal, Depends(principal)]


def admin(who: Who) -> Principal:
    if who.user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return who


AdminWho = Annotated[Principal, Depends(admin)]


def item_dict(item: Item) -> dict[str, Any]:
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
        "required": item.required,
    }


def create_app(
    out: Path,
    db_url: str,
    *,
    double_fraction: float = 0.2,
    seed: str = "",
    max_body: int = MAX_BODY_BYTES,
    require_niivue: bool = True,
) -> FastAPI:
    out = Path(out)
    vendor = niivue_path() if require_niivue else None
    store = Store(db_url)
    records = load_records(out)
    sync_items(store, all_items(out, records), double_fraction, seed)
    volumes = Volumes(out, records)
    auth = Auth(store)
    hierarchy = load_hierarchy()

    app = FastAPI(title="radgenome review", version="1", docs_url=None, redoc_url=None)
    app.add_middleware(SecurityMiddleware, max_body=max_body)
    app.state.store = store
    app.state.out = out
    app.state.auth = auth

    def get_item(item_id: str) -> Item:
        with store.session() as s:
            item = s.get(Item, item_id)
        if item is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such item")
        return item

    # ------------------------------------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        if SESSION_COOKIE not in request.cookies:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(STATIC_DIR / "login.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        # served from a fixed list: a name never becomes a path
        files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        if name not in files or "." not in name or name.rsplit(".", 1)[1] not in ("js", "css", "svg"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        media = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
        return FileResponse(files[name], media_type=media, headers={"cache-control": "no-cache"})

    @app.get("/vendor/niivue.js", include_in_schema=False)
    def niivue() -> Response:
        if vendor is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "NiiVue not installed (npm ci)")
        return FileResponse(vendor, media_type="text/javascript", headers={"cache-control": "max-age=3600"})

    # ------------------------------------------------------------------------------------------- auth
    @app.post("/auth/login", tags=["auth"])
    def login(body: LoginBody, response: Response) -> dict[str, Any]:
        user = auth.login(body.token)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token")
        cookie, csrf = auth.session_cookie(user)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="strict",
                            secure=auth.secure_cookie, path="/")
        return {"name": user.name, "role": user.role, "csrf": csrf}

    @app.post("/auth/logout", tags=["auth"])
    def logout(response: Response) -> dict[str, bool]:
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"ok": True}

    # -------------------------------------------------------------------------------------------- api
    @app.get("/api/health", tags=["api"])
    def health() -> dict[str, Any]:
        return {"ok": True, "cases": len(records)}

    @app.get("/api/me", tags=["api"])
    def me(who: Who) -> dict[str, Any]:
        return {"name": who.user.name, "role": who.user.role, "csrf": who.csrf}

    @app.get("/api/filters", tags=["api"])
    def filters(who: Who) -> dict[str, Any]:
        with store.session() as s:
            rows = s.execute(select(Item.split, Item.kind, Item.qa_kind, Item.region).distinct()).all()
        return {
            "splits": sorted({r[0] for r in rows}),
            "kinds": sorted({r[1] for r in rows} | {r[2] for r in rows if r[2]}),
            "regions": sorted({r[3] for r in rows if r[3]}, key=path_sort_key),
        }

    @app.get("/api/regions", tags=["api"])
    def regions(who: Who) -> list[dict[str, Any]]:
        """The region hierarchy as RadGenome paths (for the region chooser), parents before children."""
        return [{"path": p, "node": p.rsplit("/", 1)[-1], "depth": p.count("/")} for p in hierarchy.all_paths()]

    @app.get("/api/queue", tags=["api"])
    def get_queue(
        who: Who,
        split: Annotated[str | None, Query(max_length=64)] = None,
        kind: Annotated[str | None, Query(max_length=64)] = None,
        region: Annotated[str | None, Query(max_length=64)] = None,
        flagged: bool | None = None,
        disagreement: bool = False,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> dict[str, Any]:
        f = Filters(split or None, kind or None, region or None, flagged, disagreement)
        with store.session() as s:
            items = queue(s, who.user, f, limit)
            return {"items": [item_dict(i) for i in items]}

    @app.get("/api/progress", tags=["api"])
    def get_progress(who: Who) -> dict[str, Any]:
        with store.session() as s:
            rows = progress(s)
            mine = next((r for r in rows if r["reviewer"] == who.user.name), None)
            return {"me": mine, "reviewers": rows if who.user.role == "admin" else [mine], "totals": totals(s)}

    @app.get("/api/items/{item_id}", tags=["api"])
    def get_item_detail(item_id: str, who: Who) -> dict[str, Any]:
        if not _valid_id(item_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such item")
        item = get_item(item_id)
        rec = volumes.record(item.stem)
        out_item = item_dict(item)
        highlight = set(out_item["sentence_indices"])
        out_item["report"] = [
            {"index": s.index, "section": s.section.value, "text": s.text, "highlight": s.index in highlight}
            for s in rec.sentences
        ]
        out_item["has_ct"] = _has(volumes.ct_path, item.stem)
        out_item["has_mask"] = bool(item.node) and _has(volumes.labelmap_path, item.stem)
        with store.session() as s:
            out_item["history"] = dec.history(s, item_id)
            out_item["disagreement"] = item_id in disagreeing_items(s)
        return out_item

    @app.get("/api/items/{item_id}/mask-info", tags=["api"])
    def mask_info(item_id: str, who: Who, node: Annotated[str | None, Query(max_length=128)] = None) -> dict[str, Any]:
        item = _item_or_404(item_id)
        m = _mask_or_404(item, node)
        return {"voxels": m.voxels, "centroid_mm": m.centroid_mm, "node": node or item.node}

    @app.get("/api/items/{item_id}/mask.nii.gz", tags=["api"])
    def mask(item_id: str, who: Who, node: Annotated[str | None, Query(max_length=128)] = None) -> Response:
        item = _item_or_404(item_id)
        m = _mask_or_404(item, node)
        return Response(m.data, media_type="application/gzip", headers={"cache-control": "private, max-age=600"})

    @app.get("/api/cases/{case_id}/ct.nii.gz", tags=["api"])
    def ct(case_id: str, who: Who) -> Response:
        if not _valid_case(case_id) or case_id not in records:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
        try:
            path = volumes.ct_path(case_id)
        except NoVolumeError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        headers = {"cache-control": "private, max-age=600"}
        if path.is_dir():  # a DICOM series: converted to NIfTI once
            return Response(volumes.ct_dicom_bytes(case_id), media_type="application/gzip", headers=headers)
        return FileResponse(path, media_type="application/gzip" if path.name.endswith(".gz") else
                            "application/octet-stream", headers=headers)

    @app.post("/api/decisions", tags=["api"], status_code=201)
    def post_decision(body: DecisionBody, who: Who) -> JSONResponse:
        inp = dec.DecisionInput(body.item_id, body.key, body.verdict, body.text, body.node, body.mask_wrong,
                                body.comment)
        with store.session() as s:
            try:
                d, created = dec.record(s, who.user, inp)
            except dec.DecisionError as exc:
                raise HTTPException(422, str(exc)) from exc
            body_out = dec.decision_dict(d, who.user.name)
        return JSONResponse(body_out, status_code=201 if created else 200)

    @app.post("/api/decisions/undo", tags=["api"])
    def post_undo(body: UndoBody, who: Who) -> dict[str, Any]:
        with store.session() as s:
            d = dec.undo(s, who.user, body.decision_id)
            if d is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing to undo")
            return dec.decision_dict(d, who.user.name)

    @app.get("/api/agreement", tags=["api"])
    def agreement(who: AdminWho) -> dict[str, Any]:
        with store.session() as s:
            return agreement_report(s)

    @app.get("/api/users", tags=["api"])
    def users(who: AdminWho) -> list[dict[str, str]]:
        with store.session() as s:
            return [{"name": u.name, "role": u.role} for u in s.scalars(select(User).order_by(User.name))]

    # ---------------------------------------------------------------------------------------- helpers
    def _item_or_404(item_id: str) -> Item:
        if not _valid_id(item_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such item")
        return get_item(item_id)

    def _mask_or_404(item: Item, node: str | None) -> Any:
        target = node or item.path or item.node
        if not target:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "this item has no region")
        try:
            return volumes.mask(item.stem, target)
        except NoVolumeError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, f"unknown region {target!r}") from exc

    return app


def _valid_id(item_id: str) -> bool:
    return len(item_id) == 16 and all(c in "0123456789abcdef" for c in item_id)


def _valid_case(case_id: str) -> bool:
    return 0 < len(case_id) <= 200 and all(c.isalnum() or c in "_.-" for c in case_id) and ".." not in case_id


def _has(fn: Any, case_id: str) -> bool:
    try:
        fn(case_id)
    except (NoVolumeError, KeyError):
        return False
    return True

"""The review web app (FastAPI): pages, sign-in, and the reviewer and admin APIs.

``create_app(OUT, db_url)`` reads the build's items (``OUT/dataset/*.parquet``), adds new ones to the store and
returns the app. Every ``/api/*`` route except ``GET /api/health`` needs a session cookie or a bearer token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse

from radgenome.anatomy import load_hierarchy
from radgenome.review import admin_api, api
from radgenome.review.assets import NIIVUE_LICENSES, STATIC_DIR, niivue_path
from radgenome.review.auth import SESSION_COOKIE, SESSION_HOURS, Auth
from radgenome.review.bodies import LoginBody, validation_error
from radgenome.review.context import Ctx, ReviewContext
from radgenome.review.queue import LEASE_MINUTES, MAX_OPEN, sync_items
from radgenome.review.security import MAX_BODY_BYTES, SecurityMiddleware
from radgenome.review.sources import CaseIndex, load_items
from radgenome.review.store import Store, utcnow
from radgenome.review.volumes import Volumes

STATIC_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}


def create_app(
    out: Path,
    db_url: str,
    *,
    double_fraction: float = 0.2,
    seed: str = "",
    max_body: int = MAX_BODY_BYTES,
    lease_minutes: float = LEASE_MINUTES,
    max_open: int = MAX_OPEN,
    secure_cookies: bool | None = None,
    session_hours: float = SESSION_HOURS,
    clock: Callable[[], dt.datetime] = utcnow,
) -> FastAPI:
    """The app for build output ``out`` with its decisions in ``db_url``.

    ``secure_cookies``: None sets the session cookie's Secure flag on HTTPS requests (as uvicorn sees them,
    ``X-Forwarded-Proto`` included from trusted proxies); True/False forces it. ``clock`` is for tests.
    """
    out = Path(out)
    vendor = niivue_path()
    hierarchy = load_hierarchy()
    loaded = load_items(out, hierarchy)
    store = Store(db_url, clock=clock)
    sync_items(store, loaded.items, double_fraction, seed)
    cases = CaseIndex(out)
    ctx = ReviewContext(
        out=out, store=store, auth=Auth(store, secure_cookies=secure_cookies, session_hours=session_hours),
        cases=cases, volumes=Volumes(out, cases), hierarchy=hierarchy, lease_minutes=lease_minutes,
        max_open=max_open, problems=loaded.problems,
    )

    ctx.filters = api.filter_values(ctx)

    app = FastAPI(title="radgenome review", version="2", docs_url=None, redoc_url=None)
    app.add_middleware(SecurityMiddleware, max_body=max_body)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.state.ctx = ctx
    app.include_router(api.router)
    app.include_router(admin_api.router)

    # ------------------------------------------------------------------------------------------ pages
    def page(name: str, request: Request) -> Response:
        if SESSION_COOKIE not in request.cookies:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC_DIR / name, media_type="text/html")

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        return page("index.html", request)

    @app.get("/admin", include_in_schema=False)
    def admin_page(request: Request) -> Response:
        return page("admin.html", request)

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(STATIC_DIR / "login.html", media_type="text/html")

    static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix[1:] in STATIC_TYPES}

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        # served from a fixed listing: a name never becomes a path
        if name not in static_files:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        return FileResponse(static_files[name], media_type=STATIC_TYPES[static_files[name].suffix[1:]],
                            headers={"cache-control": "no-cache"})

    @app.get("/vendor/niivue.js", include_in_schema=False)
    def niivue() -> Response:
        return FileResponse(vendor, media_type="text/javascript", headers={"cache-control": "max-age=3600"})

    @app.get("/vendor/LICENSES.txt", include_in_schema=False)
    def niivue_licenses() -> Response:
        return FileResponse(NIIVUE_LICENSES, media_type="text/plain; charset=utf-8")

    # ------------------------------------------------------------------------------------------- auth
    @app.post("/auth/login", tags=["auth"])
    def login(body: LoginBody, request: Request, response: Response, c: Ctx) -> dict[str, Any]:
        user = c.auth.login(body.token)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token")
        csrf = c.auth.open_session(user, request, response)
        return {"name": user.name, "role": user.role, "csrf": csrf}

    @app.post("/auth/logout", tags=["auth"])
    def logout(request: Request, response: Response, c: Ctx) -> dict[str, bool]:
        return {"ok": True, "revoked": c.auth.close_session(request, response)}

    return app

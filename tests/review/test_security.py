"""Access control, server-side sessions, CSRF, strict validation, path traversal, inert text, body limits, headers."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from radgenome.review.app import create_app
from radgenome.review.assets import STATIC_DIR
from radgenome.review.store import Meta, SessionRow, Store, add_user

from .conftest import Clock

SAMPLE_IDS = {"item_id": "0123456789abcdef", "case_id": "valid_1_a_1"}


def _protected_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every API route the app declares (from its OpenAPI schema), health excepted."""
    out = []
    for path, methods in client.get("/openapi.json").json()["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in sorted(methods):
            if (method, path) != ("get", "/api/health"):
                out.append((method.upper(), path.format(**SAMPLE_IDS)))
    return out


def _claim(client: TestClient, headers: dict[str, str], **body: object) -> list[dict]:
    r = client.post("/api/queue/claim", json={"limit": 5, **body}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_every_api_route_needs_auth(sqlite_client: TestClient) -> None:
    routes = _protected_routes(sqlite_client)
    assert len(routes) >= 18
    for method, path in routes:
        r = sqlite_client.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
        r = sqlite_client.request(method, path, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401, (method, path, r.status_code)
    assert sqlite_client.get("/api/health").status_code == 200


def test_admin_routes_refuse_reviewers(sqlite_client: TestClient, sqlite_env: dict, bearer) -> None:
    h = bearer(sqlite_env["tokens"]["ann"])
    for method, path in [("GET", "/api/agreement"), ("GET", "/api/users"), ("GET", "/api/admin/progress"),
                         ("GET", "/api/admin/adjudication"), ("POST", "/api/admin/export")]:
        assert sqlite_client.request(method, path, headers=h).status_code == 403, path
    r = sqlite_client.post("/api/adjudications", headers=h,
                           json={"item_id": "0123456789abcdef", "key": "adj-by-reviewer", "verdict": "accept"})
    assert r.status_code == 403


def test_openapi_served_and_lists_routes(sqlite_client: TestClient) -> None:
    paths = sqlite_client.get("/openapi.json").json()["paths"]
    assert {"/api/decisions", "/api/queue", "/api/queue/claim", "/api/adjudications"} <= set(paths)


def test_login_cookie_csrf_and_logout_revokes(client: TestClient, review_env: dict) -> None:
    assert client.post("/auth/login", json={"token": "wrong"}).status_code == 401
    r = client.post("/auth/login", json={"token": review_env["tokens"]["ann"]})
    assert r.status_code == 200
    cookie_header = r.headers["set-cookie"].lower()
    assert "httponly" in cookie_header and "samesite=strict" in cookie_header
    assert "secure" not in cookie_header  # plain http: auto mode leaves Secure off
    csrf = r.json()["csrf"]
    old_cookie = client.cookies.get("rg_session")
    assert client.get("/api/me").json()["name"] == "ann"
    assert client.post("/api/queue/claim", json={"limit": 2}).status_code == 403  # cookie but no CSRF header
    item = client.post("/api/queue/claim", json={"limit": 2}, headers={"X-CSRF-Token": csrf}).json()["items"][0]
    body = {"item_id": item["id"], "key": "csrf-test-0001", "verdict": "accept"}
    assert client.post("/api/decisions", json=body).status_code == 403
    assert client.post("/api/decisions", json=body, headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert client.post("/api/decisions", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    # the store holds the session's hash, never the cookie value, and no signing secret at all
    with Store(review_env["url"]).read() as s:
        ids = list(s.scalars(select(SessionRow.id)))
        assert old_cookie not in ids and len(ids) == 1
        assert s.get(Meta, "secret") is None
    # logout ends the session: the old cookie no longer works, even replayed
    assert client.post("/auth/logout").json()["revoked"] is True
    assert client.get("/api/me").status_code == 401
    client.cookies.set("rg_session", old_cookie)
    assert client.get("/api/me").status_code == 401
    client.cookies.set("rg_session", "forged.value")
    assert client.get("/api/me").status_code == 401


def test_new_token_ends_old_sessions(client: TestClient, review_env: dict) -> None:
    client.post("/auth/login", json={"token": review_env["tokens"]["bob"]})
    assert client.get("/api/me").status_code == 200
    store = Store(review_env["url"])
    new = add_user(store, "bob")
    store.dispose()
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {review_env['tokens']['bob']}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_sessions_expire(client: TestClient, review_env: dict, clock: Clock) -> None:
    client.post("/auth/login", json={"token": review_env["tokens"]["ann"]})
    clock.advance(hours=11.9)
    assert client.get("/api/me").status_code == 200
    clock.advance(hours=0.2)
    assert client.get("/api/me").status_code == 401


def test_secure_cookie_flag(sqlite_env: dict) -> None:
    token = sqlite_env["tokens"]["ann"]
    auto = create_app(sqlite_env["out"], sqlite_env["url"])
    with TestClient(auto, base_url="https://review.example") as c:  # HTTPS (direct, or X-Forwarded-Proto)
        assert "secure" in c.post("/auth/login", json={"token": token}).headers["set-cookie"].lower()
    forced = create_app(sqlite_env["out"], sqlite_env["url"], secure_cookies=True)
    with TestClient(forced) as c:
        assert "secure" in c.post("/auth/login", json={"token": token}).headers["set-cookie"].lower()
    off = create_app(sqlite_env["out"], sqlite_env["url"], secure_cookies=False)
    with TestClient(off, base_url="https://review.example") as c:
        assert "secure" not in c.post("/auth/login", json={"token": token}).headers["set-cookie"].lower()
    for app in (auto, forced, off):
        app.state.ctx.store.dispose()


def test_new_sqlite_store_is_private(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new' / 'review.sqlite'}")
    add_user(store, "ann")
    store.dispose()
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "review.sqlite").st_mode) == 0o600


def test_strict_validation(sqlite_client: TestClient, sqlite_env: dict, bearer) -> None:
    h = {**bearer(sqlite_env["tokens"]["ann"]), "content-type": "application/json"}
    item = _claim(sqlite_client, h)[0]["id"]
    bad = [
        b'"mask_wrong": 1e999', b'"mask_wrong": NaN', b'"mask_wrong": Infinity', b'"mask_wrong": "true"',
        b'"mask_wrong": 1', b'"comment": "\\ud800"', b'"comment": "a\\u0000b"', b'"text": "x\\udfff"',
        b'"path": 7', b'"unknown_field": 1',
    ]
    for extra in bad:
        body = b'{"item_id": "%s", "key": "strict-0001", "verdict": "accept", %s}' % (item.encode(), extra)
        r = sqlite_client.post("/api/decisions", content=body, headers=h)
        assert r.status_code == 422, (extra, r.status_code, r.text)
        assert set(r.json()["detail"][0]) == {"loc", "msg", "type"}  # the offending value is never echoed
    r = sqlite_client.post("/api/queue/claim", content=b'{"limit": 1e999}', headers=h)
    assert r.status_code == 422
    r = sqlite_client.post("/api/decisions/undo", content=b'{"decision_id": NaN}', headers=h)
    assert r.status_code == 422
    r = sqlite_client.post("/api/decisions", content=b'{"item_id": "\xff\xfe"}', headers=h)
    assert r.status_code in (400, 422)
    # and nothing of that was stored
    ok = sqlite_client.post("/api/decisions", headers=h,
                            json={"item_id": item, "key": "strict-0001", "verdict": "accept", "comment": "ünïcode ✓"})
    assert ok.status_code == 201 and ok.json()["comment"] == "ünïcode ✓"


def test_path_traversal_is_not_possible(sqlite_client: TestClient, sqlite_env: dict, bearer) -> None:
    h = bearer(sqlite_env["tokens"]["ann"])
    item = _claim(sqlite_client, h)[0]["id"]
    attempts = [
        "/api/cases/..%2F..%2F..%2Fetc%2Fpasswd/ct.nii.gz",
        "/api/cases/../../etc/passwd/ct.nii.gz",
        "/api/cases/%2e%2e/ct.nii.gz",
        "/api/cases/valid_1_a_1%2F..%2F..%2Fcases/ct.nii.gz",
        "/api/cases/volumes/ct.nii.gz",
        "/api/cases/review.sqlite/ct.nii.gz",
        "/api/items/..%2F..%2Fetc%2Fpasswd/mask.nii.gz",
        f"/api/items/{item}/mask.nii.gz?path=../../etc/passwd",
        "/static/..%2F__init__.py",
        "/static/../app.py",
        "/static/%2e%2e%2fapp.py",
        "/static/update.mjs",
        "/vendor/..%2F..%2Fpackage.json",
    ]
    for url in attempts:
        r = sqlite_client.get(url, headers=h)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert b"root:" not in r.content and b"def create_app" not in r.content
    # the real case is served by id only
    assert sqlite_client.get("/api/cases/valid_1_a_1/ct.nii.gz", headers=h).status_code == 200


def test_script_in_report_is_data_and_page_is_inert(sqlite_client: TestClient, sqlite_env: dict, bearer) -> None:
    h = bearer(sqlite_env["tokens"]["admin"])
    r = sqlite_client.get("/api/queue", headers=h)
    assert r.status_code == 200
    with Store(sqlite_env["url"]).read() as s:
        from radgenome.review.store import Item

        hostile = s.scalars(select(Item).where(Item.text.contains("<script>"))).first()
    assert hostile is not None, "the sample has a sentence with a <script> tag"
    r = sqlite_client.get(f"/api/items/{hostile.id}", headers=h)  # admins may open any item
    assert r.headers["content-type"].startswith("application/json")
    assert any("<script>alert('x')</script>" in s["text"] for s in r.json()["report"])  # verbatim, as data
    # the pages never parse text as HTML
    for path in STATIC_DIR.glob("*.js"):
        src = path.read_text(encoding="utf-8")
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|eval\(", src), path
    for page in ("index.html", "admin.html", "login.html"):
        html = (STATIC_DIR / page).read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page  # no inline script
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), page  # no inline event handlers
        assert not re.search(r"\sstyle\s*=", html), page  # no inline styles (CSP style-src 'self')
    csp = sqlite_client.get("/login").headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)  # type: ignore[union-attr]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_security_headers(sqlite_client: TestClient) -> None:
    r = sqlite_client.get("/login")
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert name in r.headers
    assert r.headers["x-frame-options"] == "DENY"


def test_request_size_limit(sqlite_client: TestClient, sqlite_env: dict, bearer) -> None:
    h = bearer(sqlite_env["tokens"]["ann"])
    item = _claim(sqlite_client, h)[0]["id"]
    big = {"item_id": item, "key": "big-body-0001", "verdict": "accept", "comment": "x" * 100_000}
    assert sqlite_client.post("/api/decisions", json=big, headers=h).status_code == 413

    def chunks():  # streamed without a Content-Length: the middleware counts the bytes
        for _ in range(40):
            yield b"x" * 4096

    r = sqlite_client.post("/api/decisions", content=chunks(), headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413
    # field limits hold below the body limit too
    assert sqlite_client.post("/api/decisions", json={**big, "comment": "y" * 5000}, headers=h).status_code == 422
    r = sqlite_client.post("/auth/login", content=b"{" * 70_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413

"""Access control, CSRF, path traversal, inert text, body size limit, security headers."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from radgenome.review.assets import STATIC_DIR

SAMPLE_IDS = {"item_id": "0123456789abcdef", "case_id": "valid_1_a_1"}


def _protected_routes(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        for method in sorted(route.methods):
            if (method, route.path) == ("GET", "/api/health"):
                continue
            out.append((method, route.path.format(**SAMPLE_IDS)))
    return out


def test_every_api_route_needs_auth(client: TestClient) -> None:
    routes = _protected_routes(client)
    assert len(routes) >= 12
    for method, path in routes:
        r = client.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
        r = client.request(method, path, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401, (method, path, r.status_code)
    assert client.get("/api/health").status_code == 200


def test_openapi_served_and_lists_routes(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/decisions" in paths and "/api/queue" in paths


def test_login_cookie_and_csrf(client: TestClient, review_env: dict) -> None:
    assert client.post("/auth/login", json={"token": "wrong"}).status_code == 401
    r = client.post("/auth/login", json={"token": review_env["tokens"]["ann"]})
    assert r.status_code == 200
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    csrf = r.json()["csrf"]
    assert client.get("/api/me").json()["name"] == "ann"
    item = client.get("/api/queue").json()["items"][0]["id"]
    body = {"item_id": item, "key": "csrf-test-0001", "verdict": "accept"}
    assert client.post("/api/decisions", json=body).status_code == 403  # cookie but no CSRF header
    assert client.post("/api/decisions", json=body, headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert client.post("/api/decisions", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    # a forged cookie is refused
    client.cookies.clear()
    client.cookies.set("rg_session", "forged.value")
    assert client.get("/api/me").status_code == 401


def test_new_token_ends_old_sessions(client: TestClient, review_env: dict) -> None:
    from radgenome.review.store import Store, add_user

    client.post("/auth/login", json={"token": review_env["tokens"]["bob"]})
    assert client.get("/api/me").status_code == 200
    add_user(Store(review_env["url"]), "bob")
    assert client.get("/api/me").status_code == 401


def test_path_traversal_is_not_possible(client: TestClient, review_env: dict, bearer) -> None:
    h = bearer(review_env["tokens"]["ann"])
    attempts = [
        "/api/cases/..%2F..%2F..%2Fetc%2Fpasswd/ct.nii.gz",
        "/api/cases/../../etc/passwd/ct.nii.gz",
        "/api/cases/%2e%2e/ct.nii.gz",
        "/api/cases/valid_1_a_1%2F..%2F..%2Fcases/ct.nii.gz",
        "/api/cases/volumes/ct.nii.gz",
        "/api/cases/review.sqlite/ct.nii.gz",
        "/api/items/..%2F..%2Fetc%2Fpasswd/mask.nii.gz",
        "/api/items/0123456789abcdef/mask.nii.gz?node=../../etc/passwd",
        "/static/..%2F__init__.py",
        "/static/../app.py",
        "/static/%2e%2e%2fapp.py",
        "/vendor/..%2F..%2Fpackage.json",
    ]
    for url in attempts:
        r = client.get(url, headers=h)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert b"root:" not in r.content and b"def create_app" not in r.content
    # the real case is served by id only
    assert client.get("/api/cases/valid_1_a_1/ct.nii.gz", headers=h).status_code == 200


def test_script_in_report_is_data_and_page_is_inert(client: TestClient, review_env: dict, bearer) -> None:
    h = bearer(review_env["tokens"]["admin"])
    items = []
    for _ in range(5):
        items += client.get("/api/queue", headers=h, params={"limit": 200}).json()["items"]
    hostile = [i for i in items if "<script>" in i["text"]]
    assert hostile, "the sample has a sentence with a <script> tag"
    r = client.get(f"/api/items/{hostile[0]['id']}", headers=h)
    assert r.headers["content-type"].startswith("application/json")
    assert any("<script>alert('x')</script>" in s["text"] for s in r.json()["report"])  # verbatim, as data
    # the page never parses text as HTML
    for path in STATIC_DIR.glob("*.js"):
        src = path.read_text(encoding="utf-8")
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|eval\(", src), path
        assert "textContent" in src or path.name == "login.js"
    # no inline script in the pages, and a CSP that forbids it
    for page in ("/login",):
        body = client.get(page).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", index)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", index)  # no inline event handlers
    csp = client.get("/login").headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_security_headers(client: TestClient) -> None:
    r = client.get("/login")
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert name in r.headers
    assert r.headers["x-frame-options"] == "DENY"


def test_request_size_limit(client: TestClient, review_env: dict, bearer) -> None:
    h = bearer(review_env["tokens"]["ann"])
    item = client.get("/api/queue", headers=h).json()["items"][0]["id"]
    big = {"item_id": item, "key": "big-body-0001", "verdict": "accept", "comment": "x" * 100_000}
    r = client.post("/api/decisions", json=big, headers=h)
    assert r.status_code == 413
    # streamed without a Content-Length: the middleware counts the bytes
    def chunks():
        for _ in range(40):
            yield b"x" * 4096

    r = client.post("/api/decisions", content=chunks(), headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413
    # field limits hold below the body limit too
    r = client.post("/api/decisions", json={**big, "comment": "y" * 5000}, headers=h)
    assert r.status_code == 422
    r = client.post("/auth/login", content=b"{" * 70_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_missing_niivue_fails_clearly(monkeypatch, tmp_path: Path) -> None:
    import pytest

    from radgenome.review import assets

    monkeypatch.setattr(assets, "REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADGENOME_NODE_MODULES", raising=False)
    with pytest.raises(assets.MissingNiivueError, match="npm ci"):
        assets.niivue_path()

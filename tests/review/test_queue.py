"""Explicit assignment: claims take free slots within a per-reader bound, leases expire back to the pool, GETs
change nothing, and readers decide only their own items. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from radgenome.review.queue import Filters, claim
from radgenome.review.store import Assignment, Item, Store, User

from .conftest import Clock


def _h(env: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def _snapshot(url: str) -> tuple[list[tuple], list[tuple]]:
    store = Store(url)
    with store.read() as s:
        items = s.execute(select(Item.id, Item.assigned, Item.open, Item.reads).order_by(Item.id)).all()
        assignments = s.execute(select(Assignment.item_id, Assignment.user_id, Assignment.expires_at)
                                .order_by(Assignment.id)).all()
    store.dispose()
    return [tuple(r) for r in items], [tuple(r) for r in assignments]


def test_gets_change_nothing(client: TestClient, review_env: dict) -> None:
    h = _h(review_env, "ann")
    before = _snapshot(review_env["url"])
    for url in ("/api/queue", "/api/queue?state=decided", "/api/progress", "/api/filters", "/api/me"):
        assert client.get(url, headers=h).status_code == 200
    assert client.get("/api/queue", headers=h).json()["items"] == []  # nothing claimed by looking
    assert _snapshot(review_env["url"]) == before
    # a cross-site <img src="/api/queue/claim"> cannot claim: claiming is POST only
    assert client.get("/api/queue/claim", headers=h).status_code == 405
    assert _snapshot(review_env["url"]) == before


def test_claim_is_bounded_and_lists_mine(review_env: dict) -> None:
    from radgenome.review.app import create_app

    app = create_app(review_env["out"], review_env["url"], double_fraction=0.5, max_open=40)
    client = TestClient(app)
    h = _h(review_env, "ann")
    r = client.post("/api/queue/claim", json={"limit": 30}, headers=h).json()
    assert r["claimed"] == 30 and r["open"] == 30 and len(r["items"]) == 30
    r = client.post("/api/queue/claim", json={"limit": 30}, headers=h).json()
    assert r["claimed"] == 10 and r["open"] == 40 == r["max_open"]  # the per-reader bound (max_open=40)
    assert client.post("/api/queue/claim", json={"limit": 5}, headers=h).json()["claimed"] == 0
    listed = client.get("/api/queue", headers=h, params={"limit": 200}).json()["items"]
    assert len(listed) == 40
    orders = [i["id"] for i in listed]
    assert len(set(orders)) == 40
    assert client.post("/api/queue/claim", json={"limit": 101}, headers=h).status_code == 422
    app.state.ctx.store.dispose()


def test_claim_filters(client: TestClient, review_env: dict) -> None:
    h = _h(review_env, "ann")
    qa = client.post("/api/queue/claim", json={"limit": 5, "kind": "qa"}, headers=h).json()["items"]
    assert qa and all(i["kind"] == "qa" for i in qa)
    heart = client.post("/api/queue/claim", json={"limit": 5, "region": "heart"}, headers=h).json()["items"]
    assert any(i["region"] == "heart" for i in heart)
    listed = client.get("/api/queue", headers=h, params={"region": "heart"}).json()["items"]
    assert listed and all(i["region"] == "heart" for i in listed)
    flagged = client.post("/api/queue/claim", json={"limit": 5, "flagged": True}, headers=h).json()["items"]
    assert any(i["flagged"] for i in flagged)


def test_every_item_gets_exactly_its_readers(client: TestClient, review_env: dict) -> None:
    for _ in range(2):
        for who in ("ann", "bob", "admin"):
            client.post("/api/queue/claim", json={"limit": 40}, headers=_h(review_env, who))
            # decide everything held, so the bound does not stop the claims
            for item in client.get("/api/queue", headers=_h(review_env, who), params={"limit": 200}).json()["items"]:
                r = client.post("/api/decisions", headers=_h(review_env, who),
                                json={"item_id": item["id"], "key": f"all-{who}-{item['id']}", "verdict": "accept"})
                assert r.status_code == 201, r.text
    store = Store(review_env["url"])
    with store.read() as s:
        counts = dict(s.execute(select(Assignment.item_id, func.count()).group_by(Assignment.item_id)).all())
        required = dict(s.execute(select(Item.id, Item.required)).all())
        pairs = s.execute(select(Assignment.item_id, Assignment.user_id)).all()
    store.dispose()
    assert set(required.values()) == {1, 2}  # double_fraction=0.5 gives both kinds
    assert all(counts.get(i, 0) == r for i, r in required.items())  # every item got exactly its readers
    assert len(pairs) == len(set(pairs))  # never the same reader twice
    progress = client.get("/api/progress", headers=_h(review_env, "admin")).json()
    assert progress["totals"]["reads_done"] == progress["totals"]["reads_required"] == sum(required.values())


def test_leases_expire_back_to_the_pool(client: TestClient, review_env: dict, clock: Clock) -> None:
    ann, bob = _h(review_env, "ann"), _h(review_env, "bob")
    mine = client.post("/api/queue/claim", json={"limit": 3}, headers=ann).json()["items"]
    first = mine[0]["id"]
    assert client.get(f"/api/items/{first}", headers=bob).status_code == 403  # not bob's
    r = client.post("/api/decisions", headers=bob, json={"item_id": first, "key": "bob-steal-01", "verdict": "accept"})
    assert r.status_code == 403
    clock.advance(minutes=30)
    client.post("/api/queue/claim", json={"limit": 1}, headers=ann)  # claiming again renews ann's leases
    clock.advance(minutes=45)
    assert len(client.get("/api/queue", headers=ann).json()["items"]) == 4  # renewed at +30: still live at +75
    clock.advance(minutes=20)  # past the renewed lease (60 min)
    assert client.get("/api/queue", headers=ann).json()["items"] == []  # expired leases are not listed
    got = client.post("/api/queue/claim", json={"limit": 10}, headers=bob).json()["items"]
    assert first in {i["id"] for i in got}  # the slot went back to the pool, and bob took it
    r = client.post("/api/decisions", headers=ann, json={"item_id": first, "key": "ann-late-001", "verdict": "accept"})
    assert r.status_code == 403  # ann's lease ended and the item is bob's now
    r = client.post("/api/decisions", headers=bob, json={"item_id": first, "key": "bob-fair-001", "verdict": "accept"})
    assert r.status_code == 201


def test_decided_items_keep_their_assignment(client: TestClient, review_env: dict, clock: Clock) -> None:
    ann = _h(review_env, "ann")
    item = client.post("/api/queue/claim", json={"limit": 1}, headers=ann).json()["items"][0]["id"]
    assert client.post("/api/decisions", headers=ann,
                       json={"item_id": item, "key": "keep-00001", "verdict": "accept"}).status_code == 201
    clock.advance(days=3)
    client.post("/api/queue/claim", json={"limit": 1}, headers=_h(review_env, "bob"))  # reaps expired leases
    decided = client.get("/api/queue", headers=ann, params={"state": "decided"}).json()["items"]
    assert [i["id"] for i in decided] == [item] and decided[0]["verdict"] == "accept"
    r = client.post("/api/decisions", headers=ann, json={"item_id": item, "key": "keep-00002", "verdict": "reject"})
    assert r.status_code == 201  # a reader may change a decided item at any time


def test_concurrent_claims_never_over_assign(review_env: dict) -> None:
    """Twelve readers claim at once, on threads, straight against the store: every item ends with at most its
    required readers, and the claims add up. (On PostgreSQL a claim skips rows another claim holds, so the
    total may be below capacity: a reader short of items claims again.)"""
    from radgenome.review.store import add_user

    store = Store(review_env["url"])
    from radgenome.review.app import create_app

    create_app(review_env["out"], review_env["url"], double_fraction=0.5).state.ctx.store.dispose()
    for i in range(12):
        add_user(store, f"r{i:02d}")
    with store.read() as s:
        users = list(s.scalars(select(User).where(User.name.like("r%"))))
    barrier = threading.Barrier(len(users))
    claimed: list[int] = []
    errors: list[BaseException] = []

    def run(user: User) -> None:
        try:
            barrier.wait()
            claimed.append(claim(store, user, Filters(), 15, max_open=15).claimed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with store.read() as s:
        over = s.scalar(select(func.count()).select_from(Item).where(Item.assigned > Item.required))
        rows = s.scalar(select(func.count()).select_from(Assignment))
        assigned_sum = s.scalar(select(func.sum(Item.assigned)))
        capacity = s.scalar(select(func.sum(Item.required)))
    store.dispose()
    assert over == 0
    assert rows == sum(claimed) == assigned_sum
    assert 0 < sum(claimed) <= capacity

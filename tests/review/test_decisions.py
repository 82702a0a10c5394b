"""Decisions: idempotent keys (409 on a reused key), blind double reading, undo that restores the form,
adjudication, agreement, the verified export (escaped CSV cells), and counters that match the history.
On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import random
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from radgenome.csvcells import is_formula_cell, unescape_cell
from radgenome.review.agreement import cohen_kappa
from radgenome.review.decisions import signature
from radgenome.review.export import export_verified
from radgenome.review.store import Assignment, Decision, Item, ReviewerStats, Store


def _h(env: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def _items(url: str) -> dict[tuple[str, str], Item]:
    """Items by (sentence or question, path)."""
    store = Store(url)
    with store.read() as s:
        out = {(i.text, i.path): i for i in s.scalars(select(Item))}
    store.dispose()
    return out


def _claim_all(client: TestClient, env: dict[str, Any], who: str) -> set[str]:
    got: set[str] = set()
    while True:
        r = client.post("/api/queue/claim", json={"limit": 100}, headers=_h(env, who)).json()
        got |= {i["id"] for i in r["items"]}
        if not r["claimed"]:
            return got


def _post(client: TestClient, env: dict[str, Any], who: str, item: Item | str, key: str, verdict: str,
          status: int | tuple[int, ...] = (200, 201), **extra: object) -> dict:
    item_id = item if isinstance(item, str) else item.id
    r = client.post("/api/decisions", headers=_h(env, who),
                    json={"item_id": item_id, "key": key, "verdict": verdict, **extra})
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()


def _double(url: str) -> list[Item]:
    return sorted((i for i in _items(url).values() if i.required == 2), key=lambda i: i.order)


def _rows(data: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data)))


def test_kappa_hand_examples() -> None:
    a = ["accept", "accept", "reject", "reject", "accept", "correct"]
    b = ["accept", "reject", "reject", "reject", "accept", "accept"]
    # po = 4/6, pe = (3*3 + 2*3 + 1*0) / 36 = 15/36, kappa = (24/36 - 15/36) / (21/36) = 3/7
    assert cohen_kappa(a, b) == pytest.approx(3 / 7)
    # the textbook 2x2 table: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa 0.4
    a2 = ["y"] * 25 + ["n"] * 25
    b2 = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a2, b2) == pytest.approx(0.4)
    assert cohen_kappa(["x", "y"], ["x", "y"]) == pytest.approx(1.0)
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None  # chance agreement 1: undefined


def test_idempotency_keys(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    item = min(_items(review_env["url"]).values(), key=lambda i: i.order)
    first = _post(client, review_env, "ann", item, "idem-key-0001", "accept", 201)
    again = _post(client, review_env, "ann", item, "idem-key-0001", "accept", 200)  # a retried POST
    assert again["id"] == first["id"]
    # the same key with another body is a conflict, not a silent success
    r = client.post("/api/decisions", headers=_h(review_env, "ann"),
                    json={"item_id": item.id, "key": "idem-key-0001", "verdict": "reject"})
    assert r.status_code == 409
    r = client.post("/api/decisions", headers=_h(review_env, "ann"),
                    json={"item_id": item.id, "key": "idem-key-0001", "verdict": "accept", "comment": "x"})
    assert r.status_code == 409
    store = Store(review_env["url"])
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(Decision)) == 1
    store.dispose()


def test_same_key_posted_concurrently_is_stored_once(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    item = min(_items(review_env["url"]).values(), key=lambda i: i.order)
    barrier = threading.Barrier(12)
    answers: list[tuple[int, int]] = []

    def post() -> None:
        barrier.wait()
        r = client.post("/api/decisions", headers=_h(review_env, "ann"),
                        json={"item_id": item.id, "key": "same-key-race-01", "verdict": "accept"})
        answers.append((r.status_code, r.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(code for code, _ in answers) == [200] * 11 + [201]
    assert len({i for _, i in answers}) == 1
    store = Store(review_env["url"])
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(Decision).where(Decision.key == "same-key-race-01")) == 1
        user_id = s.scalar(select(Decision.user_id).where(Decision.key == "same-key-race-01"))
        assert s.get(ReviewerStats, user_id).decisions == 1
    store.dispose()


def test_blind_double_reading(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    _claim_all(client, review_env, "bob")
    item = _double(review_env["url"])[0]
    _post(client, review_env, "ann", item, "blind-ann-001", "reject", comment="ann thinks it is wrong")
    seen_by_bob = client.get(f"/api/items/{item.id}", headers=_h(review_env, "bob")).json()
    assert seen_by_bob["history"] == [] and seen_by_bob["current"] is None
    assert "reads" not in seen_by_bob and "disagreement" not in seen_by_bob
    assert "ann" not in str(seen_by_bob)
    _post(client, review_env, "bob", item, "blind-bob-001", "accept")
    # still blind after both decided: a reader never sees the other reader
    seen_by_bob = client.get(f"/api/items/{item.id}", headers=_h(review_env, "bob")).json()
    assert [h["reviewer"] for h in seen_by_bob["history"]] == ["bob"] and "ann" not in str(seen_by_bob)
    seen_by_ann = client.get(f"/api/items/{item.id}", headers=_h(review_env, "ann")).json()
    assert [h["reviewer"] for h in seen_by_ann["history"]] == ["ann"] and "bob" not in str(seen_by_ann)
    # an admin who does not read the item sees both, and the disagreement
    seen_by_admin = client.get(f"/api/items/{item.id}", headers=_h(review_env, "admin")).json()
    assert {h["reviewer"] for h in seen_by_admin["reads"]} == {"ann", "bob"} and seen_by_admin["disagreement"]
    # the queue does not leak it either
    queue = client.get("/api/queue", headers=_h(review_env, "bob"), params={"state": "decided"}).json()["items"]
    assert all(set(i) >= {"verdict"} and "reads" not in i for i in queue)


def test_undo_restores_the_whole_form_and_revisit_shows_current(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    items = _items(review_env["url"])
    ggo = items[("Ground glass opacity in the right lung lower lobe.", "lung/lung/right lung/right lung lower lobe")]
    fix = {"text": "Ground glass opacity in the right lung middle lobe.",
           "path": "lung/lung/right lung/right lung middle lobe", "mask_wrong": True, "comment": "wrong lobe"}
    stored = _post(client, review_env, "ann", ggo, "undo-form-001", "correct", 201, **fix)
    assert stored["node"] == "right lung middle lobe" and stored["verdict"] == "correct"
    revisit = client.get(f"/api/items/{ggo.id}", headers=_h(review_env, "ann")).json()
    assert {k: revisit["current"][k] for k in fix} == fix  # a revisited item shows the current decision
    undone = client.post("/api/decisions/undo", json={}, headers=_h(review_env, "ann")).json()
    assert undone["id"] == stored["id"] and undone["undone_at"]
    after = client.get(f"/api/items/{ggo.id}", headers=_h(review_env, "ann")).json()
    assert after["current"] is None and after["lease_until"]  # undecided again, back in the open queue
    assert {k: after["latest"][k] for k in fix} == fix  # ... with every field of the undone decision to restore
    assert ggo.id in {i["id"] for i in client.get("/api/queue", headers=_h(review_env, "ann"),
                                                   params={"limit": 200}).json()["items"]}
    assert client.post("/api/decisions/undo", json={"decision_id": stored["id"]},
                       headers=_h(review_env, "ann")).status_code == 404  # already undone
    again = _post(client, review_env, "ann", ggo, "undo-form-002", "correct", 201, **fix)
    assert again["id"] != stored["id"]


def test_bad_decisions_are_refused(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    item = min(_items(review_env["url"]).values(), key=lambda i: i.order)
    _post(client, review_env, "ann", item, "bad-00000001", "correct", 422)  # a correction without a change
    _post(client, review_env, "ann", item, "bad-00000002", "accept", 422, path="lung/elbow")
    _post(client, review_env, "ann", item, "bad-00000003", "accept", 422, path="left lung")  # a node, not a path
    _post(client, review_env, "ann", "0123456789abcdef", "bad-00000004", "accept", 404)
    r = client.post("/api/decisions/undo", json={}, headers=_h(review_env, "bob"))
    assert r.status_code == 404


def test_adjudication(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    _claim_all(client, review_env, "bob")
    double = _double(review_env["url"])
    agree, differ = double[0], double[1]
    _post(client, review_env, "ann", agree, "adj-ann-0001", "accept")
    _post(client, review_env, "bob", agree, "adj-bob-0001", "accept")
    _post(client, review_env, "ann", differ, "adj-ann-0002", "accept")
    _post(client, review_env, "bob", differ, "adj-bob-0002", "reject")
    admin = _h(review_env, "admin")
    queue = client.get("/api/admin/adjudication", headers=admin).json()["items"]
    assert [i["id"] for i in queue] == [differ.id]
    assert {(r["reviewer"], r["verdict"]) for r in queue[0]["reads"]} == {("ann", "accept"), ("bob", "reject")}
    body = {"item_id": agree.id, "key": "adj-adm-0001", "verdict": "accept"}
    assert client.post("/api/adjudications", json=body, headers=admin).status_code == 409  # no disagreement
    body = {"item_id": differ.id, "key": "adj-adm-0002", "verdict": "reject", "comment": "ann missed it"}
    r = client.post("/api/adjudications", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["adjudication"]
    assert client.get("/api/admin/adjudication", headers=admin).json()["items"] == []  # settled: off the queue
    totals = client.get("/api/admin/progress", headers=admin).json()["totals"]
    assert totals["adjudicated"] == 1 and totals["disagreements_open"] == 0
    # undoing the adjudication puts the item back
    client.post("/api/decisions/undo", json={}, headers=admin)
    assert [i["id"] for i in client.get("/api/admin/adjudication", headers=admin).json()["items"]] == [differ.id]
    # a reader changing their mind ends the disagreement
    _post(client, review_env, "bob", differ, "adj-bob-0003", "accept")
    assert client.get("/api/admin/adjudication", headers=admin).json()["items"] == []


def test_agreement_per_kind_and_region(client: TestClient, review_env: dict) -> None:
    _claim_all(client, review_env, "ann")
    _claim_all(client, review_env, "bob")
    double = [i for i in _double(review_env["url"]) if i.kind == "sentence"][:6]
    ann = ["accept", "accept", "reject", "reject", "accept", "reject"]
    bob = ["accept", "reject", "reject", "reject", "accept", "accept"]
    for k, (item, va, vb) in enumerate(zip(double, ann, bob, strict=True)):
        _post(client, review_env, "ann", item, f"agree-ann-{k:04d}", va)
        _post(client, review_env, "bob", item, f"agree-bob-{k:04d}", vb)
    report = client.get("/api/agreement", headers=_h(review_env, "admin")).json()
    rows = {(r["group"], r["name"]): r for r in report["rows"]}
    assert rows[("all", "all")]["items"] == 6
    assert rows[("all", "all")]["kappa"] == pytest.approx(cohen_kappa(ann, bob))
    assert rows[("kind", "sentence")]["items"] == 6
    by_region: dict[str, tuple[list[str], list[str]]] = {}
    for item, va, vb in zip(double, ann, bob, strict=True):
        by_region.setdefault(item.region, ([], []))[0].append(va)
        by_region[item.region][1].append(vb)
    for region, (a, b) in by_region.items():
        assert rows[("region", region)]["items"] == len(a)
        expected = cohen_kappa(a, b)
        assert rows[("region", region)]["kappa"] == (None if expected is None else pytest.approx(expected))
    assert client.get("/api/agreement", headers=_h(review_env, "ann")).status_code == 403


def test_export_round_trip(client: TestClient, review_env: dict, tmp_path: Path) -> None:
    env, url = review_env, review_env["url"]
    _claim_all(client, env, "ann")
    _claim_all(client, env, "bob")
    items = _items(url)
    by_text: dict[str, list[Item]] = {}
    for (text, _path), item in items.items():
        by_text.setdefault(text, []).append(item)

    def one(text: str, path_end: str) -> Item:
        return next(i for i in by_text[text] if i.path.endswith(path_end))

    def decide_all(item: Item, key: str, verdict: str, **extra: object) -> None:
        for who in ("ann", "bob")[: item.required]:
            _post(client, env, who, item, f"{key}-{who}", verdict, **extra)

    nodule = one("There is a 6 mm nodule in the left lung upper lobe.", "left lung/left lung upper lobe")
    heart = one("Heart size is normal.", "heart")
    trachea = one("The trachea is open.", "trachea")
    ggo = one("Ground glass opacity in the right lung lower lobe.", "right lung/right lung lower lobe")
    aorta = one("Calcified plaques in the aorta.", "mediastinum/aorta")
    decide_all(nodule, "exp-nodule", "accept", comment="=HYPERLINK(\"http://x\")")
    decide_all(heart, "exp-heart", "reject")
    decide_all(trachea, "exp-trachea", "correct", text="-The trachea is patent.")
    decide_all(ggo, "exp-ggo", "accept", path="lung/lung/right lung/right lung middle lobe", mask_wrong=True,
               comment="@wrong lobe")
    decide_all(aorta, "exp-aorta", "accept")
    qa = next(i for i in items.values() if i.kind == "qa" and i.qa_kind == "presence")
    decide_all(qa, "exp-qa", "correct", text="+Yes.")

    dest = tmp_path / "verified"
    summary = export_verified(env["out"], url, dest)
    assert summary.exported == 5 and summary.rejected == 1 and summary.qa_pairs == 1
    region = list(csv.DictReader((dest / "radgenome_files" / "validation_region_report.csv").open(encoding="utf-8")))
    by_path = {(r["Volumename"], r["Anatomy"]): r["Sentence"] for r in region if r["Anatomy"]}
    text = " ".join(by_path.values())
    assert "6 mm nodule" in by_path[("valid_1_a_1", "lung/lung/left lung/left lung upper lobe")]
    assert "The trachea is patent." in text and "The trachea is open." not in text
    assert "Heart size is normal." not in text
    assert "Ground glass" in by_path[("valid_2_a_1", "lung/lung/right lung/right lung middle lobe")]
    assert ("valid_2_a_1", "lung/lung/right lung/right lung lower lobe") not in by_path
    assert "Calcified plaques" in by_path[("valid_3_a_1", "mediastinum/aorta")]
    for name in ("qa_pairs.csv", "provenance.csv"):  # our own CSVs: no cell starts like a formula
        for row in csv.reader((dest / name).open(encoding="utf-8")):
            assert not any(is_formula_cell(c) for c in row), (name, row)
    qa_rows = list(csv.DictReader((dest / "qa_pairs.csv").open(encoding="utf-8")))
    assert [(r["question"], unescape_cell(r["answer"]), r["corrected"]) for r in qa_rows] == [(qa.text, "+Yes.", "1")]
    prov = list(csv.DictReader((dest / "provenance.csv").open(encoding="utf-8")))
    assert {r["item_id"] for r in prov} == {nodule.id, trachea.id, ggo.id, aorta.id, qa.id}
    ggo_row = next(r for r in prov if r["item_id"] == ggo.id)
    assert ggo_row["decision"] == "correct" and ggo_row["mask_wrong"] == "1"
    assert unescape_cell(ggo_row["comment"]) == "@wrong lobe" and ggo_row["comment"] == "'@wrong lobe"
    assert "region: lung/lung/right lung/right lung lower lobe -> lung/lung/right lung/right lung middle lobe" in \
        ggo_row["change"]
    assert ggo_row["time"].endswith("Z")
    nodule_row = next(r for r in prov if r["item_id"] == nodule.id)
    assert unescape_cell(nodule_row["comment"]) == "=HYPERLINK(\"http://x\")"

    # the admin page's export is the same archive
    r = client.post("/api/admin/export", headers=_h(env, "admin"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.read("verified/provenance.csv") == (dest / "provenance.csv").read_bytes()
        assert "verified/radgenome_files/validation_region_report.csv" in zf.namelist()


def test_counters_match_the_history(client: TestClient, review_env: dict) -> None:
    """Random reads, re-decisions, undos and adjudications: every counter and item state equals what the decision
    history implies (the per-request shortcuts never drift from the truth)."""
    env = review_env
    rng = random.Random(7)
    held = {who: sorted(_claim_all(client, env, who)) for who in ("ann", "bob")}
    for n in range(120):
        who = rng.choice(("ann", "bob"))
        action = rng.random()
        if action < 0.75:
            _post(client, env, who, rng.choice(held[who]), f"rnd-{who}-{n:05d}", rng.choice(("accept", "reject")))
        elif action < 0.9:
            client.post("/api/decisions/undo", json={}, headers=_h(env, who))
        else:
            queue = client.get("/api/admin/adjudication", headers=_h(env, "admin")).json()["items"]
            if queue:
                r = client.post("/api/adjudications", headers=_h(env, "admin"),
                                json={"item_id": queue[0]["id"], "key": f"rnd-adm-{n:05d}", "verdict": "accept"})
                assert r.status_code == 201
    store = Store(env["url"])
    with store.read() as s:
        decisions = list(s.scalars(select(Decision)))
        assignments = list(s.scalars(select(Assignment)))
        items = {i.id: i for i in s.scalars(select(Item))}
        stats = {r.user_id: r for r in s.scalars(select(ReviewerStats))}
    store.dispose()
    standing = {(d.item_id, d.user_id): d for d in sorted(decisions, key=lambda d: d.id)
                if not d.adjudication and d.undone_at is None and d.replaced_at is None}
    assert {(a.item_id, a.user_id): a.decision_id for a in assignments if a.decision_id} == \
        {k: d.id for k, d in standing.items()}
    for user_id, st in stats.items():
        assert st.decisions == sum(1 for d in decisions if d.user_id == user_id)
        assert st.decided == sum(1 for (_i, u) in standing if u == user_id)
    for item in items.values():
        reads = [d for (i, _u), d in standing.items() if i == item.id]
        assert item.reads == len(reads)
        assert item.complete == (len(reads) >= item.required)
        assert item.disagreement == (item.complete and len({signature(d) for d in reads}) > 1)
        adjudications = [d for d in decisions if d.item_id == item.id and d.adjudication and d.undone_at is None
                         and d.replaced_at is None]
        assert item.adjudication_id == (adjudications[-1].id if adjudications else None)

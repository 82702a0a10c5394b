"""Queue, decisions (idempotent keys, undo), agreement and the verified export, through the HTTP API and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from radgenome.review.agreement import cohen_kappa
from radgenome.review.cli import register
from radgenome.review.export import export_verified
from radgenome.review.store import Assignment, Decision, Item, Store, user_by_token


def _items(url: str) -> dict[tuple[str, str], Item]:
    """Items by (sentence or question, node)."""
    with Store(url).session() as s:
        return {(i.text, i.node): i for i in s.scalars(select(Item))}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _post(client: TestClient, token: str, item: Item, key: str, verdict: str, **extra: object) -> dict:
    r = client.post("/api/decisions", headers={"Authorization": f"Bearer {token}"},
                    json={"item_id": item.id, "key": key, "verdict": verdict, **extra})
    assert r.status_code in (200, 201), r.text
    return r.json()


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


def test_queue_filters_and_double_assignment(client: TestClient, review_env: dict) -> None:
    t = review_env["tokens"]
    h = {"Authorization": f"Bearer {t['ann']}"}
    qa = client.get("/api/queue", headers=h, params={"kind": "qa", "limit": 200}).json()["items"]
    assert qa and all(i["kind"] == "qa" for i in qa)
    heart = client.get("/api/queue", headers=h, params={"region": "heart"}).json()["items"]
    assert heart and all(i["region"] == "heart" for i in heart)
    flagged = client.get("/api/queue", headers=h, params={"flagged": True}).json()["items"]
    assert flagged and all(i["flagged"] for i in flagged)
    for who in ("ann", "bob", "admin"):
        client.get("/api/queue", headers={"Authorization": f"Bearer {t[who]}"}, params={"limit": 200})
    with Store(review_env["url"]).session() as s:
        counts = dict(s.execute(select(Assignment.item_id, func.count()).group_by(Assignment.item_id)).all())
        required = dict(s.execute(select(Item.id, Item.required)).all())
    assert set(required.values()) == {1, 2}  # double_fraction=0.5 gives both kinds
    assert all(counts.get(i, 0) == r for i, r in required.items())  # every item got exactly its reviewers
    progress = client.get("/api/progress", headers={"Authorization": f"Bearer {t['admin']}"}).json()
    assert {r["reviewer"] for r in progress["reviewers"]} == {"admin", "ann", "bob"}
    assert sum(r["assigned"] for r in progress["reviewers"]) == sum(required.values())


def test_decisions_undo_export_round_trip(client: TestClient, review_env: dict, tmp_path: Path) -> None:
    t, url = review_env["tokens"], review_env["url"]
    items = _items(url)
    nodule = items[("There is a 6 mm nodule in the left lung upper lobe.", "left lung upper lobe")]
    heart = items[("Heart size is normal.", "heart")]
    trachea = items[("The trachea is open.", "trachea")]
    ggo = items[("Ground glass opacity in the right lung lower lobe.", "right lung lower lobe")]
    thyroid = items[("Thyroid is unremarkable.", "thyroid gland")]
    esophagus = items[("Esophagus is normal.", "esophagus")]
    qa = items[("Is there pericardial effusion in the heart?", "heart")]

    first = _post(client, t["ann"], nodule, "k-nodule-0001", "accept")
    again = _post(client, t["ann"], nodule, "k-nodule-0001", "accept")  # a retried POST
    assert again["id"] == first["id"]
    _post(client, t["ann"], heart, "k-heart-00001", "reject")
    fixed = _post(client, t["ann"], trachea, "k-trachea-001", "correct", text="The trachea is patent.")
    assert fixed["verdict"] == "correct" and fixed["text"] == "The trachea is patent."
    moved = _post(client, t["ann"], ggo, "k-ggo-0000001", "accept", node="right lung middle lobe", mask_wrong=True,
                  comment="wrong lobe")
    assert moved["verdict"] == "correct"  # accepting with a change is a correction
    _post(client, t["ann"], thyroid, "k-thyroid-001", "accept")
    _post(client, t["bob"], thyroid, "k-thyroid-002", "reject")  # disagreement: left out
    _post(client, t["ann"], esophagus, "k-esoph-00001", "accept")
    undone = client.post("/api/decisions/undo", headers={"Authorization": f"Bearer {t['ann']}"}, json={})
    assert undone.status_code == 200 and undone.json()["item_id"] == esophagus.id
    _post(client, t["ann"], qa, "k-qa-00000001", "correct", text="Yes.")
    # bad input is refused
    r = client.post("/api/decisions", headers={"Authorization": f"Bearer {t['ann']}"},
                    json={"item_id": nodule.id, "key": "k-bad-0000001", "verdict": "correct"})
    assert r.status_code == 422
    r = client.post("/api/decisions", headers={"Authorization": f"Bearer {t['ann']}"},
                    json={"item_id": nodule.id, "key": "k-bad-0000002", "verdict": "accept", "node": "elbow"})
    assert r.status_code == 422

    with Store(url).session() as s:
        n = s.scalar(select(func.count()).select_from(Decision))
        assert n == 8  # the retry stored once; the undone decision kept (marked), refused ones not stored
    detail = client.get(f"/api/items/{thyroid.id}", headers={"Authorization": f"Bearer {t['admin']}"}).json()
    assert detail["disagreement"] and [h["reviewer"] for h in detail["history"]] == ["ann", "bob"]
    dis = client.get("/api/queue", headers={"Authorization": f"Bearer {t['admin']}"},
                     params={"disagreement": True}).json()["items"]
    assert [i["id"] for i in dis] == [thyroid.id]

    dest = tmp_path / "verified"
    summary = export_verified(review_env["out"], url, dest)
    assert summary.exported == 4 and summary.rejected == 1 and summary.disagreements == 1
    region = _rows(dest / "radgenome_files" / "validation_region_report.csv")
    by_path = {(r["Volumename"], r["Anatomy"]): r["Sentence"] for r in region if r["Anatomy"]}
    text = " ".join(by_path.values())
    assert "6 mm nodule" in by_path[("valid_1_a_1", "lung/lung/left lung/left lung upper lobe")]
    assert "The trachea is patent." in text and "The trachea is open." not in text
    assert "Heart size is normal." not in text
    assert "Thyroid" not in text and "Esophagus" not in text
    assert "Ground glass" in by_path[("valid_2_a_1", "lung/lung/right lung/right lung middle lobe")]
    assert ("valid_2_a_1", "lung/lung/right lung/right lung lower lobe") not in by_path
    assert ("valid_3_a_1", "") not in {(r["Volumename"], r["Anatomy"]) for r in region}  # nothing verified there
    abn = _rows(dest / "radgenome_files" / "validation_vqa_abnormality.csv")
    assert any(r["Anatomy"].endswith("right lung middle lobe") and "ground glass" in r["Abnormality"] for r in abn)
    qa_rows = _rows(dest / "qa_pairs.csv")
    assert [(r["question"], r["answer"], r["corrected"]) for r in qa_rows] == [
        ("Is there pericardial effusion in the heart?", "Yes.", "1")]
    prov = _rows(dest / "provenance.csv")
    assert {r["item_id"] for r in prov} == {nodule.id, trachea.id, ggo.id, qa.id}
    ggo_row = next(r for r in prov if r["item_id"] == ggo.id)
    assert ggo_row["reviewer"] == "ann" and ggo_row["decision"] == "correct" and ggo_row["mask_wrong"] == "1"
    assert "region: right lung lower lobe -> right lung middle lobe" in ggo_row["change"]
    assert ggo_row["time"].endswith("Z")

    # an admin settles the disagreement: the adjudication is exported
    _post(client, t["admin"], thyroid, "k-thyroid-adm", "accept")
    summary = export_verified(review_env["out"], url, dest)
    assert summary.exported == 5 and summary.disagreements == 0


def test_agreement_per_kind_and_region(client: TestClient, review_env: dict) -> None:
    t, url = review_env["tokens"], review_env["url"]
    items = list(_items(url).values())
    sentences = [i for i in items if i.kind == "sentence"][:6]
    ann = ["accept", "accept", "reject", "reject", "accept", "reject"]
    bob = ["accept", "reject", "reject", "reject", "accept", "accept"]
    for k, (item, va, vb) in enumerate(zip(sentences, ann, bob, strict=True)):
        _post(client, t["ann"], item, f"agree-ann-{k:04d}", va)
        _post(client, t["bob"], item, f"agree-bob-{k:04d}", vb)
    report = client.get("/api/agreement", headers={"Authorization": f"Bearer {t['admin']}"}).json()
    rows = {(r["group"], r["name"]): r for r in report["rows"]}
    assert rows[("all", "all")]["items"] == 6
    assert rows[("all", "all")]["kappa"] == pytest.approx(cohen_kappa(ann, bob))
    assert rows[("kind", "sentence")]["items"] == 6
    by_region: dict[str, tuple[list[str], list[str]]] = {}
    for item, va, vb in zip(sentences, ann, bob, strict=True):
        by_region.setdefault(item.region, ([], []))[0].append(va)
        by_region[item.region][1].append(vb)
    for region, (a, b) in by_region.items():
        assert rows[("region", region)]["items"] == len(a)
        assert rows[("region", region)]["kappa"] == (None if cohen_kappa(a, b) is None else pytest.approx(
            cohen_kappa(a, b)))
    assert client.get("/api/agreement", headers={"Authorization": f"Bearer {t['ann']}"}).status_code == 403


def test_cli_review_group(review_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        """test app"""

    register(app)
    runner = CliRunner()
    url, out = review_env["url"], str(review_env["out"])
    r = runner.invoke(app, ["review", "--help"])
    assert r.exit_code == 0 and "add-user" in r.output and "stats" in r.output
    r = runner.invoke(app, ["review", "add-user", "carol", "--role", "admin", "--db", url])
    assert r.exit_code == 0, r.output
    with Store(url).session() as s:
        user = user_by_token(s, r.output.strip())
        assert user is not None and user.name == "carol" and user.role == "admin"
    r = runner.invoke(app, ["review", "add-user", "dave", "--role", "boss", "--db", url])
    assert r.exit_code == 2
    r = runner.invoke(app, ["review", "add-user", "erin"])
    assert r.exit_code == 2 and "--db" in r.output

    calls: list[dict] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: calls.append({"app": app_, **kw}))
    r = runner.invoke(app, ["review", out, "--db", url, "--port", "8123"])
    assert r.exit_code == 0, r.output
    assert calls and calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8123
    r = runner.invoke(app, ["review", "--db", url, out])  # options before OUT work too
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["review", str(tmp_path / "nothing"), "--db", url])
    assert r.exit_code == 2 and "not a `radgenome build` output" in r.output

    r = runner.invoke(app, ["review", "stats", out, "--db", url])
    assert r.exit_code == 0, r.output
    assert "kappa" in r.output and "carol" in r.output
    r = runner.invoke(app, ["export-verified", out, "--db", url, "-o", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "v" / "provenance.csv").exists()


def test_same_key_posted_concurrently_is_stored_once(client: TestClient, review_env: dict) -> None:
    import threading

    token = review_env["tokens"]["ann"]
    item = next(iter(_items(review_env["url"]).values()))
    barrier = threading.Barrier(12)
    answers: list[tuple[int, int]] = []

    def post() -> None:
        barrier.wait()
        r = client.post("/api/decisions", headers={"Authorization": f"Bearer {token}"},
                        json={"item_id": item.id, "key": "same-key-race-01", "verdict": "accept"})
        answers.append((r.status_code, r.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(answers) == 12
    assert sorted(code for code, _ in answers) == [200] * 11 + [201]
    assert len({i for _, i in answers}) == 1
    with Store(review_env["url"]).session() as s:
        assert s.scalar(select(func.count()).select_from(Decision).where(Decision.key == "same-key-race-01")) == 1


def test_cli_review_without_node_modules_says_npm_ci(review_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from radgenome.review import app as app_module
    from radgenome.review.assets import MissingNiivueError

    def missing() -> Path:
        raise MissingNiivueError("NiiVue is not installed. Run `npm ci` in the radgenome repository")

    monkeypatch.setattr(app_module, "niivue_path", missing)
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        """test app"""

    register(app)
    r = CliRunner().invoke(app, ["review", str(review_env["out"]), "--db", review_env["url"]])
    assert r.exit_code == 1 and "npm ci" in r.output

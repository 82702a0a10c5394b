"""The retrying, concurrency-limited client against the scripted server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from radgenome.testing import Reply, ScriptedServer
from radgenome.text.llm.client import ChatClient, _retry_after_s
from radgenome.text.llm.prompts import build_messages
from radgenome.text.llm.settings import LLMSettings

pytest.importorskip("openai")

Make = Callable[..., LLMSettings]


def test_valid_answer_and_request_shape(server: ScriptedServer, make_settings: Make) -> None:
    server.script["A nodule."] = [Reply.answer(["lung"])]
    with ChatClient(make_settings()) as client:
        res = client.complete(build_messages("A nodule."))
    assert res.ok and res.attempts == 1 and '"lung"' in (res.content or "")
    body = server.requests[0].body
    assert body["model"] == "test-model" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True


def test_429_then_success_honours_retry_after(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [
        Reply.error(429, retry_after=0),
        Reply.error(429, retry_after=0),
        Reply.answer(["heart"]),
    ]
    slept: list[float] = []
    with ChatClient(make_settings(backoff_base_s=5.0, backoff_max_s=5.0), sleep=slept.append) as client:
        res = client.complete(build_messages("s"))
    assert res.ok and res.attempts == 3
    assert client.stats.retries == 2 and client.stats.requests == 3
    assert slept == []  # Retry-After: 0 wins over the (long) backoff


def test_retry_after_is_capped(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(503, retry_after=120), Reply.answer(["heart"])]
    slept: list[float] = []
    with ChatClient(make_settings(backoff_max_s=0.02), sleep=slept.append) as client:
        res = client.complete(build_messages("s"))
    assert res.ok and slept == [0.02]


def test_500_then_success_backs_off(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(500), Reply.answer(["heart"])]
    slept: list[float] = []
    with ChatClient(make_settings(backoff_base_s=0.04), sleep=slept.append) as client:
        res = client.complete(build_messages("s"))
    assert res.ok and res.attempts == 2
    assert len(slept) == 1 and 0.0 <= slept[0] <= 0.04


def test_retries_are_bounded(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(502)]
    with ChatClient(make_settings(max_retries=3)) as client:
        res = client.complete(build_messages("s"))
    assert not res.ok and res.error == "HTTP 502" and res.attempts == 4
    assert server.count("s") == 4


def test_client_errors_are_not_retried(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(400)]
    with ChatClient(make_settings()) as client:
        res = client.complete(build_messages("s"))
    assert not res.ok and res.attempts == 1 and server.count("s") == 1


def test_timeout_is_retried_then_fails_in_bounded_time(server: ScriptedServer, make_settings: Make) -> None:
    server.script["slow"] = [Reply.answer(["heart"], delay_s=60.0)]
    with ChatClient(make_settings(timeout_s=1.0, max_retries=1)) as client:
        res = client.complete(build_messages("slow"))
    assert not res.ok and res.error == "timeout" and res.attempts == 2
    assert client.stats.retries == 1
    assert server.count("slow") == 2  # bounded: one try and one retry, nothing more


def test_timeout_then_success(server: ScriptedServer, make_settings: Make) -> None:
    server.script["slow once"] = [Reply.answer(["heart"], delay_s=60.0), Reply.answer(["lung"])]
    with ChatClient(make_settings(timeout_s=1.0, max_retries=2)) as client:
        res = client.complete(build_messages("slow once"))
    assert res.ok and '"lung"' in (res.content or "") and res.attempts == 2


def test_connection_refused_is_retried_then_fails(make_settings: Make) -> None:
    with ScriptedServer() as dead:
        url = dead.url
    with ChatClient(make_settings(base_url=url, max_retries=2)) as client:
        res = client.complete(build_messages("s"))
    assert not res.ok and res.error is not None and res.error.startswith("connection error") and res.attempts == 3


def test_concurrency_limit_and_order(make_settings: Make) -> None:
    with ScriptedServer(
        default=lambda s: Reply.answer(["others"], [{"phrase": s, "polarity": "present"}]), gather=2
    ) as srv:
        srv.latency_s = 0.05
        with ChatClient(make_settings(base_url=srv.url, concurrency=3)) as client:
            done: list[int] = []
            results = client.complete_many(
                [build_messages(f"s{i}") for i in range(12)], on_done=lambda i, _r: done.append(i)
            )
        assert srv.max_in_flight <= 3
        assert srv.gathered  # two requests were in flight at once: it did run in parallel
    assert [f'"s{i}"' in (r.content or "") for i, r in enumerate(results)] == [True] * 12
    assert sorted(done) == list(range(12))


def test_total_deadline(server: ScriptedServer, make_settings: Make) -> None:
    server.latency_s = 0.6
    with ChatClient(make_settings(concurrency=2, timeout_s=5.0)) as client:
        results = client.complete_many([build_messages(f"s{i}") for i in range(6)], deadline_s=0.3)
    # every answer would take 0.6 s: the deadline ended the pass before any came back, and nothing beyond the
    # two requests in flight was sent
    assert all(not r.ok and "deadline" in (r.error or "") for r in results)
    assert server.count() <= 2


def test_retry_after_header_forms() -> None:
    assert _retry_after_s({"retry-after": "3"}) == 3.0
    assert _retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert _retry_after_s({"retry-after": "-4"}) == 0.0
    assert _retry_after_s({}) is None
    assert _retry_after_s(None) is None
    assert _retry_after_s({"retry-after": "soon"}) is None
    assert 0.0 <= (_retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) or 0.0) < 1.0

"""The chat client against the scripted server: retries, total timeouts, answer size limit, circuit breaker,
deadline, messages with URL / status / server text, and the preflight. No test reads a clock: they count
requests, attempts, bytes and disconnects."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from radgenome.testing import PREFLIGHT_MARK, Reply, ScriptedServer
from radgenome.text.llm.client import (
    KIND_CIRCUIT_OPEN,
    KIND_CONNECTION,
    KIND_DEADLINE,
    KIND_TIMEOUT,
    KIND_TOO_LARGE,
    PREFLIGHT_PROMPT,
    ChatClient,
    LLMServerError,
    _retry_after_s,
    server_message,
)
from radgenome.text.llm.prompts import build_messages
from radgenome.text.llm.settings import LLMSettings

pytest.importorskip("httpx")

Make = Callable[..., LLMSettings]


class Sleeps(list[float]):
    """An async ``sleep`` that records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_valid_answer_and_request_shape(server: ScriptedServer, make_settings: Make) -> None:
    server.script["A nodule."] = [Reply.answer(["lung"])]
    client = ChatClient(make_settings())
    res = client.complete(build_messages("A nodule."))
    assert res.ok and res.attempts == 1 and '"lung"' in (res.content or "") and res.finish_reason == "stop"
    body = server.requests[0].body
    assert body["model"] == "test-model" and body["temperature"] == 0 and body["max_tokens"] == 1024
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True


def test_429_then_success_honours_retry_after(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(429, retry_after=0), Reply.error(429, retry_after=0), Reply.answer(["heart"])]
    slept = Sleeps()
    client = ChatClient(make_settings(backoff_base_s=5.0, backoff_max_s=5.0, max_consecutive_errors=1), sleep=slept)
    res = client.complete(build_messages("s"))
    assert res.ok and res.attempts == 3
    assert client.stats.retries == 2 and client.stats.requests == 3
    assert slept == []  # Retry-After: 0 wins over the (long) backoff
    assert client.aborted is None  # rate limiting is not a breaker failure, even with a breaker of one


def test_retry_after_is_capped(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(503, retry_after=120), Reply.answer(["heart"])]
    slept = Sleeps()
    res = ChatClient(make_settings(backoff_max_s=0.02), sleep=slept).complete(build_messages("s"))
    assert res.ok and slept == [0.02]


def test_500_then_success_backs_off(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(500), Reply.answer(["heart"])]
    slept = Sleeps()
    res = ChatClient(make_settings(backoff_base_s=0.04), sleep=slept).complete(build_messages("s"))
    assert res.ok and res.attempts == 2
    assert len(slept) == 1 and 0.0 <= slept[0] <= 0.04


def test_retries_are_bounded_and_the_error_names_url_status_and_server_text(
    server: ScriptedServer, make_settings: Make
) -> None:
    server.script["s"] = [Reply.error(502, message="upstream model worker crashed")]
    res = ChatClient(make_settings(max_retries=3, max_consecutive_errors=10)).complete(build_messages("s"))
    assert not res.ok and res.attempts == 4 and server.count("s") == 4
    assert res.kind == "HTTP 502"
    assert res.error == f"HTTP 502 from {server.url}/chat/completions: upstream model worker crashed"


def test_client_errors_are_not_retried(server: ScriptedServer, make_settings: Make) -> None:
    server.script["s"] = [Reply.error(400, message="messages: field required")]
    res = ChatClient(make_settings()).complete(build_messages("s"))
    assert not res.ok and res.attempts == 1 and server.count("s") == 1
    assert "HTTP 400" in (res.error or "") and "messages: field required" in (res.error or "")


def test_timeout_is_retried_then_fails(server: ScriptedServer, make_settings: Make) -> None:
    server.script["slow"] = [Reply.hung()]
    client = ChatClient(make_settings(timeout_s=0.5, max_retries=1))
    res = client.complete(build_messages("slow"))
    assert not res.ok and res.kind == KIND_TIMEOUT and res.attempts == 2
    assert "within 0.5 s" in (res.error or "") and server.url in (res.error or "")
    assert client.stats.retries == 1 and server.count("slow") == 2  # one try and one retry, nothing more
    assert server.wait_for(lambda s: s.disconnects == 2)  # each timed-out request was closed, not left open


def test_timeout_then_success(server: ScriptedServer, make_settings: Make) -> None:
    server.script["slow once"] = [Reply.hung(), Reply.answer(["lung"])]
    res = ChatClient(make_settings(timeout_s=0.5, max_retries=2)).complete(build_messages("slow once"))
    assert res.ok and '"lung"' in (res.content or "") and res.attempts == 2


def test_the_timeout_is_total_a_trickling_server_is_cut_off(server: ScriptedServer, make_settings: Make) -> None:
    """Bytes keep coming (one every 0.05 s, well inside any inactivity timeout), but the answer would take
    minutes: the request ends at its total timeout, long before the body is complete."""
    content = json.dumps({"nodes": ["heart"], "findings": [], "pad": "x" * 2000})
    server.script["trickle"] = [Reply.trickle(content, interval_s=0.05)]
    res = ChatClient(make_settings(timeout_s=1.0, max_retries=0)).complete(build_messages("trickle"))
    assert not res.ok and res.kind == KIND_TIMEOUT and res.attempts == 1
    assert server.wait_for(lambda s: len(s.trickled_bytes) == 1)
    assert 0 < server.trickled_bytes[0] < len(content) // 2  # bytes did flow, and the client hung up early
    assert server.disconnects == 1


def test_connection_refused_names_the_url(make_settings: Make) -> None:
    with ScriptedServer() as dead:
        url = dead.url
    client = ChatClient(make_settings(base_url=url, max_retries=2, max_consecutive_errors=10))
    res = client.complete(build_messages("s"))
    assert not res.ok and res.kind == KIND_CONNECTION and res.attempts == 3
    assert (res.error or "").startswith(f"cannot connect to {url}/chat/completions: ")


def test_an_oversized_answer_is_cut_off(server: ScriptedServer, make_settings: Make) -> None:
    server.script["huge"] = [Reply.answer(["heart"], [{"phrase": "x" * 50_000, "polarity": "present"}])]
    server.script["fine"] = [Reply.answer(["heart"])]
    client = ChatClient(make_settings(max_answer_bytes=4096, max_consecutive_errors=1))
    huge, fine = client.complete_many([build_messages("huge"), build_messages("fine")])
    assert not huge.ok and huge.kind == KIND_TOO_LARGE and huge.attempts == 1  # not retried
    assert fine.ok and client.aborted is None  # an answer problem, not a server failure


def test_concurrency_limit_and_order(make_settings: Make) -> None:
    with ScriptedServer(
        default=lambda s: Reply.answer(["others"], [{"phrase": s, "polarity": "present"}]), gather=2
    ) as srv:
        srv.latency_s = 0.05
        client = ChatClient(make_settings(base_url=srv.url, concurrency=3))
        done: list[int] = []
        results = client.complete_many(
            [build_messages(f"s{i}") for i in range(12)], on_done=lambda i, _r: done.append(i)
        )
        assert srv.max_in_flight <= 3
        assert srv.gathered  # two requests were in flight at once: it did run in parallel
    assert [f'"s{i}"' in (r.content or "") for i, r in enumerate(results)] == [True] * 12
    assert sorted(done) == list(range(12))


def test_total_deadline_cancels_what_is_in_flight(server: ScriptedServer, make_settings: Make) -> None:
    server.default = lambda _s: Reply.hung()
    client = ChatClient(make_settings(concurrency=2, timeout_s=30.0))
    done: list[int] = []
    results = client.complete_many([build_messages(f"s{i}") for i in range(6)], deadline_s=0.5,
                                   on_done=lambda i, _r: done.append(i))
    assert all(not r.ok and r.kind == KIND_DEADLINE for r in results)
    assert sorted(done) == list(range(6))
    assert server.count() == 2  # nothing beyond the two requests in flight was sent
    assert server.wait_for(lambda s: s.disconnects == 2)  # and those two were closed by the client


def test_default_deadline_scales_with_the_work(make_settings: Make) -> None:
    s = make_settings(timeout_s=10.0, concurrency=4)
    assert s.auto_deadline_s(1) == 10.0 * 2.5
    assert s.auto_deadline_s(40) == 10.0 * (1.5 * 10 + 1)
    assert s.auto_deadline_s(400) > s.auto_deadline_s(40)


def test_circuit_breaker_stops_everything_after_consecutive_failures(
    server: ScriptedServer, make_settings: Make
) -> None:
    server.default = lambda _s: Reply.error(500, message="CUDA out of memory")
    client = ChatClient(make_settings(concurrency=1, max_retries=4, max_consecutive_errors=3))
    results = client.complete_many([build_messages(f"s{i}") for i in range(50)])
    assert server.count() == 3  # three failed attempts in a row, then nothing more
    assert client.aborted is not None and "3 failed attempts in a row" in client.aborted
    assert "HTTP 500 from" in client.aborted and "CUDA out of memory" in client.aborted
    assert [r.kind for r in results] == [KIND_CIRCUIT_OPEN] * 50
    assert client.complete_many([build_messages("later")])[0].kind == KIND_CIRCUIT_OPEN  # stays open
    assert server.count() == 3


def test_a_success_closes_the_breaker_count(server: ScriptedServer, make_settings: Make) -> None:
    server.script.update({f"bad{i}": [Reply.error(503), Reply.answer(["heart"])] for i in range(10)})
    client = ChatClient(make_settings(concurrency=1, max_retries=1, max_consecutive_errors=2, backoff_base_s=0))
    results = client.complete_many([build_messages(f"bad{i}") for i in range(10)])
    assert all(r.ok and r.attempts == 2 for r in results) and client.aborted is None


def test_breaker_cancels_requests_in_flight(server: ScriptedServer, make_settings: Make) -> None:
    server.script["down"] = [Reply.error(500)]
    server.default = lambda _s: Reply.hung()
    client = ChatClient(make_settings(concurrency=3, max_retries=0, max_consecutive_errors=1, timeout_s=30))
    msgs = [build_messages("hang a"), build_messages("hang b"), build_messages("down"), build_messages("x")]
    results = client.complete_many(msgs)
    assert [r.kind for r in results] == [KIND_CIRCUIT_OPEN, KIND_CIRCUIT_OPEN, "HTTP 500", KIND_CIRCUIT_OPEN]
    assert server.wait_for(lambda s: s.disconnects == 2)  # the two hanging requests were closed at once
    assert server.count("x") == 0


def test_retry_after_header_forms() -> None:
    assert _retry_after_s({"retry-after": "3"}) == 3.0
    assert _retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert _retry_after_s({"retry-after": "-4"}) == 0.0
    assert _retry_after_s({}) is None
    assert _retry_after_s(None) is None
    assert _retry_after_s({"retry-after": "soon"}) is None
    assert 0.0 <= (_retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) or 0.0) < 1.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"message": "Invalid API key", "type": "auth"}}', "Invalid API key"),
        (b'{"error": "model \\"x\\" not found, try pulling it first"}', 'model "x" not found, try pulling it first'),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b'{"detail": [{"msg": "field required"}, {"msg": "bad type"}]}', "field required; bad type"),
        (b"<html>\n  <body>502 Bad   Gateway</body></html>", "<html> <body>502 Bad Gateway</body></html>"),
        (b"", "(empty body)"),
    ],
)
def test_server_message(body: bytes, expected: str) -> None:
    assert server_message(body) == expected


# ---------------------------------------------------------------------------------------------- preflight
def test_preflight_passes_and_lists_models(make_settings: Make) -> None:
    with ScriptedServer(models=["test-model", "other"]) as srv:
        client = ChatClient(make_settings(base_url=srv.url))
        assert client.preflight() == ["test-model", "other"]
        assert srv.model_list_requests == 1 and len(srv.preflight_requests) == 1 and srv.count() == 0
        tiny = srv.preflight_requests[0].body
        assert tiny["max_tokens"] == 1 and tiny["messages"] == [{"role": "user", "content": PREFLIGHT_PROMPT}]
        assert tiny["response_format"]["type"] == "json_schema"  # the real request shape, structured output too
    assert PREFLIGHT_PROMPT.startswith(PREFLIGHT_MARK)


def test_preflight_wrong_port(make_settings: Make) -> None:
    with ScriptedServer() as dead:
        url = dead.url
    with pytest.raises(LLMServerError) as info:
        ChatClient(make_settings(base_url=url)).preflight()
    msg = str(info.value)
    assert msg.startswith(f"cannot connect to the LLM server at {url}/models: ") and "host and port" in msg


def test_preflight_missing_v1(server: ScriptedServer, make_settings: Make) -> None:
    root = server.url.removesuffix("/v1")
    with pytest.raises(LLMServerError) as info:
        ChatClient(make_settings(base_url=root)).preflight()
    assert str(info.value) == (f"HTTP 404 from {root}/models: Not Found — is the base URL missing /v1? "
                               "OpenAI-compatible servers answer under http://HOST:PORT/v1")


def test_preflight_bad_key(make_settings: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADGENOME_TEST_KEY", "wrong")
    with ScriptedServer(api_key="right") as srv:
        url = srv.url
        with pytest.raises(LLMServerError) as info:
            ChatClient(make_settings(base_url=srv.url, api_key_env="RADGENOME_TEST_KEY")).preflight()
        assert srv.preflight_requests == []  # stopped at GET /models
        monkeypatch.setenv("RADGENOME_TEST_KEY", "right")
        assert ChatClient(make_settings(base_url=srv.url, api_key_env="RADGENOME_TEST_KEY")).preflight() == []
    msg = str(info.value)
    assert f"HTTP 401 from {url}/models: Incorrect API key provided." in msg
    assert "RADGENOME_TEST_KEY, which is set" in msg


def test_preflight_unknown_model(make_settings: Make) -> None:
    with ScriptedServer(models=["qwen2.5:7b", "llama3.1:8b"]) as srv:
        url = srv.url
        with pytest.raises(LLMServerError) as info:
            ChatClient(make_settings(base_url=url, model="qwen2.5:7B")).preflight()
    assert str(info.value) == (
        f"model 'qwen2.5:7B' is unknown to the server: HTTP 404 from {url}/chat/completions: "
        "The model `qwen2.5:7B` does not exist.; the server lists: qwen2.5:7b, llama3.1:8b"
    )


def test_preflight_rejected_structured_output(server: ScriptedServer, make_settings: Make) -> None:
    server.script[PREFLIGHT_PROMPT] = [Reply.error(400, message="response_format json_schema is not supported")]
    with pytest.raises(LLMServerError) as info:
        ChatClient(make_settings()).preflight()
    msg = str(info.value)
    assert "HTTP 400" in msg and "json_schema is not supported" in msg and "'json_object' or 'none'" in msg


@pytest.mark.parametrize(
    ("models_reply", "expected"),
    [
        (Reply.error(500, message="engine dead"), "HTTP 500 from {url}/models: engine dead"),
        (Reply(body=b"<html>welcome</html>"), "{url}/models is not an OpenAI-compatible API"),
        (Reply.hung(), "the LLM server at {url}/models gave no answer within 0.5 s"),
    ],
)
def test_preflight_server_failures(make_settings: Make, models_reply: Reply, expected: str) -> None:
    with ScriptedServer(models_reply=models_reply) as srv:
        url = srv.url
        with pytest.raises(LLMServerError) as info:
            ChatClient(make_settings(base_url=url, preflight_timeout_s=0.5)).preflight()
    assert expected.format(url=url) in str(info.value)


def test_preflight_chat_endpoint_hangs(server: ScriptedServer, make_settings: Make) -> None:
    server.script[PREFLIGHT_PROMPT] = [Reply.hung()]
    with pytest.raises(LLMServerError) as info:
        ChatClient(make_settings(timeout_s=0.5)).preflight()
    assert f"no complete answer from {server.url}/chat/completions within 0.5 s" in str(info.value)


def test_works_from_inside_a_running_event_loop(server: ScriptedServer, make_settings: Make) -> None:
    """Jupyter and async apps call the blocking API from a thread that already runs a loop."""
    import asyncio

    server.script["s"] = [Reply.answer(["heart"])]
    client = ChatClient(make_settings())

    async def caller() -> bool:
        return client.complete(build_messages("s")).ok

    assert asyncio.run(caller())

"""A chat-completions client for OpenAI-compatible servers that fails loudly and fast (over ``httpx``, async).

- **Total timeouts.** Every request must be complete — connected, sent, answered to the last byte — within
  ``timeout_s``; a server that trickles bytes is cut off like one that sends nothing. ``complete_many`` has an
  overall deadline (default scaled to the work, :meth:`LLMSettings.auto_deadline_s`).
- **Bounded answers.** The HTTP body is read up to ``4 × max_answer_bytes`` and no further.
- **Messages that say what happened**: the URL, the HTTP status and the server's own error text
  (``HTTP 404 from http://host:8000/v1/chat/completions: The model `x` does not exist.``).
- **Retries** with exponential backoff and full jitter on 429, 408/409, 5xx, timeouts and connection errors,
  honouring ``Retry-After`` / ``retry-after-ms`` (capped by ``backoff_max_s``); other 4xx are not retried.
- **A circuit breaker**: ``max_consecutive_errors`` failed attempts in a row (connection errors, timeouts, 4xx
  other than 429, 5xx, bodies that are not chat completions) open it; requests in flight are cancelled, nothing
  more is sent, and every unanswered request fails with the breaker's reason (:attr:`ChatClient.aborted`).
- **A preflight** (:meth:`ChatClient.preflight`): ``GET /models`` then one tiny chat request, which raises
  :class:`LLMServerError` in seconds for a wrong host or port, a base URL without ``/v1``, a bad key or an
  unknown model.
- **Ctrl-C** cancels the requests in flight at once (the event loop's SIGINT handling) and raises
  ``KeyboardInterrupt``; answers already received have been handed to ``on_done``.

The requests of one ``complete_many`` run on an event loop of their own (in a helper thread when the calling
thread already runs one, e.g. in Jupyter), ``settings.concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from radgenome.text.base import TextBackendError
from radgenome.text.llm.schema import response_format
from radgenome.text.llm.settings import LLMSettings
from radgenome.text.llm.stats import LLMStats

__all__ = [
    "PREFLIGHT_PROMPT",
    "CallResult",
    "ChatClient",
    "LLMDependencyError",
    "LLMServerError",
    "Messages",
    "server_message",
]

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]
T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_NOT_A_BREAKER_FAILURE = frozenset({429})
"""Rate limiting is the server working as meant: retried (honouring Retry-After), never counted by the breaker."""
PREFLIGHT_PROMPT = "radgenome preflight: answer with an empty JSON object."
"""The user message of the preflight's one tiny chat request."""
ERROR_BODY_BYTES = 65536
"""How much of an error response is read for its message."""

# failure kinds (CallResult.kind): the counts per kind are what a failed run reports
KIND_CONNECTION = "connection error"
KIND_TIMEOUT = "timeout"
KIND_BAD_RESPONSE = "not a chat completion"
KIND_TOO_LARGE = "answer too large"
KIND_CIRCUIT_OPEN = "circuit open"
KIND_DEADLINE = "deadline"


class LLMDependencyError(TextBackendError):
    """The ``httpx`` package is missing."""


class LLMServerError(TextBackendError):
    """The model server cannot be used (found by the preflight): the message names the URL, the HTTP status and
    the server's own text, and what to check."""


@dataclass(frozen=True, slots=True)
class CallResult:
    content: str | None
    """The answer text (None when the call failed)."""
    error: str | None = None
    """Why the call failed (None on success): the URL, the status and the server's text."""
    attempts: int = 0
    finish_reason: str | None = None
    kind: str = ""
    """The failure kind: ``connection error``, ``timeout``, ``HTTP <status>``, ``not a chat completion``,
    ``answer too large``, ``circuit open`` or ``deadline`` ('' on success)."""

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failure(Exception):
    """One failed attempt (internal)."""

    def __init__(self, kind: str, message: str, *, retryable: bool, counts: bool = True,
                 wait_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.counts = counts
        """Whether the circuit breaker counts it."""
        self.wait_s = wait_s


def server_message(body: bytes, limit: int = 300) -> str:
    """The server's own words from an error body: ``error.message`` / ``message`` / ``detail`` of a JSON body
    (OpenAI, vLLM, Ollama, llama.cpp, FastAPI), else the text itself; whitespace collapsed, at most ``limit``
    characters."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    found: Any = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            found = err.get("message")
        elif isinstance(err, str):
            found = err
        found = found or data.get("message") or data.get("detail")
        if isinstance(found, list):  # FastAPI validation errors
            found = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in found)
    msg = " ".join(str(found if found else text).split())
    if not msg:
        return "(empty body)"
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def _retry_after_s(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if present."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a new event loop: in this thread (where Ctrl-C cancels it), or in a
    helper thread when this thread already runs a loop (Jupyter, an async web app)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(make())
        except BaseException as exc:  # handed to the calling thread
            box["error"] = exc

    t = threading.Thread(target=target, name="radgenome-llm-loop", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


class _Breaker:
    """Opens after ``threshold`` failed attempts in a row; any complete answer closes the count again."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.failures = 0
        self.reason: str | None = None

    def success(self) -> None:
        self.failures = 0

    def failure(self, message: str) -> None:
        self.failures += 1
        if self.failures >= self.threshold and self.reason is None:
            self.reason = f"{self.failures} failed attempts in a row; the last: {message}"

    def trip(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


class ChatClient:
    """Sends chat requests; see the module docstring. One instance keeps its circuit breaker across calls."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        stats: LLMStats | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        try:
            import httpx
        except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
            raise LLMDependencyError("the LLM backend needs httpx: pip install 'radgenome[llm]'") from exc
        self._httpx = httpx
        self.settings = settings
        self.stats = stats if stats is not None else LLMStats()
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._rng = rng or random.Random()
        self._breaker = _Breaker(settings.max_consecutive_errors)
        self._response_format = response_format(settings.structured_output)
        self.chat_url = f"{settings.root_url}/chat/completions"
        self.models_url = f"{settings.root_url}/models"

    # ------------------------------------------------------------------ state
    @property
    def aborted(self) -> str | None:
        """Why the circuit breaker is open (None while it is closed): nothing more is sent."""
        return self._breaker.reason

    def abort(self, reason: str) -> None:
        """Open the breaker from outside (e.g. too many unusable answers in a row)."""
        self._breaker.trip(reason)

    def close(self) -> None:
        """Nothing to release: each call opens and closes its own connections."""

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _http(self) -> Any:
        s = self.settings
        return self._httpx.AsyncClient(
            timeout=self._httpx.Timeout(s.timeout_s, connect=min(s.connect_timeout_s, s.timeout_s)),
            limits=self._httpx.Limits(max_connections=s.concurrency + 1, max_keepalive_connections=s.concurrency),
            headers={"Authorization": f"Bearer {s.api_key()}"},
        )

    def _body(self, messages: Messages, max_tokens: int | None = None) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "max_tokens": max_tokens if max_tokens is not None else s.max_tokens,
        }
        if self._response_format is not None:
            body["response_format"] = self._response_format
        return body

    # ------------------------------------------------------------------ one attempt
    async def _post(self, http: Any, body: dict[str, Any], timeout_s: float) -> tuple[str | None, str | None]:
        """One POST to the chat endpoint: (content, finish_reason), or raises :class:`_Failure`."""
        httpx = self._httpx
        url = self.chat_url
        cap = 4 * self.settings.max_answer_bytes
        try:
            async with asyncio.timeout(timeout_s):
                async with http.stream("POST", url, json=body) as resp:
                    limit = cap if resp.status_code == 200 else ERROR_BODY_BYTES
                    data, complete = await _read_capped(resp, limit)
        except TimeoutError:
            raise _Failure(KIND_TIMEOUT, f"no complete answer from {url} within {timeout_s:g} s",
                           retryable=True) from None
        except httpx.ConnectTimeout:
            raise _Failure(KIND_CONNECTION, f"no connection to {url} within "
                           f"{min(self.settings.connect_timeout_s, timeout_s):g} s", retryable=True) from None
        except httpx.TimeoutException:
            raise _Failure(KIND_TIMEOUT, f"no complete answer from {url} within {timeout_s:g} s",
                           retryable=True) from None
        except (httpx.ConnectError, OSError) as exc:
            raise _Failure(KIND_CONNECTION, f"cannot connect to {url}: {_reason(exc)}", retryable=True) from None
        except httpx.HTTPError as exc:
            raise _Failure(KIND_CONNECTION, f"connection to {url} failed: {_reason(exc)}", retryable=True) from None
        status = resp.status_code
        if status != 200:
            retryable = status in _RETRYABLE_STATUS or status >= 500
            raise _Failure(
                f"HTTP {status}",
                f"HTTP {status} from {url}: {server_message(data)}",
                retryable=retryable,
                counts=status not in _NOT_A_BREAKER_FAILURE,
                wait_s=_retry_after_s(resp.headers) if retryable else None,
            )
        if not complete:
            raise _Failure(KIND_TOO_LARGE, f"answer from {url} larger than {cap:,} bytes: cut off",
                           retryable=False, counts=False)
        return _choice(data, url)

    async def _complete(self, http: Any, messages: Messages, deadline: float | None) -> CallResult:
        """One chat completion with retries; ``deadline`` is a ``loop.time()`` instant or None."""
        s = self.settings
        loop = asyncio.get_running_loop()
        body = self._body(messages)
        attempts = 0
        last: _Failure | None = None
        for retry in range(s.max_retries + 1):
            if self._breaker.reason is not None:
                return _circuit_open(self._breaker.reason, attempts)
            timeout = s.timeout_s
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return _deadline(last, attempts)
                timeout = min(timeout, remaining)
            attempts += 1
            self.stats.add("requests")
            if retry:
                self.stats.add("retries")
            try:
                content, finish = await self._post(http, body, timeout)
            except _Failure as exc:
                last = exc
                if exc.counts:
                    self._breaker.failure(exc.message)
                if not exc.retryable or retry == s.max_retries:
                    break
                delay = self._backoff(retry) if exc.wait_s is None else min(exc.wait_s, s.backoff_max_s)
                if deadline is not None and loop.time() + delay >= deadline:
                    return _deadline(last, attempts)
                if delay > 0:
                    await self._sleep(delay)
                continue
            self._breaker.success()
            return CallResult(content, None, attempts, finish)
        assert last is not None
        return CallResult(None, last.message, attempts, kind=last.kind)

    def _backoff(self, retry: int) -> float:
        cap = min(self.settings.backoff_max_s, self.settings.backoff_base_s * (2**retry))
        return self._rng.uniform(0.0, cap)

    # ------------------------------------------------------------------ public calls
    def complete(self, messages: Messages) -> CallResult:
        """One chat completion with retries (blocking)."""
        return self.complete_many([messages])[0]

    def complete_many(
        self,
        requests: Sequence[Messages],
        *,
        on_done: Callable[[int, CallResult], None] | None = None,
        deadline_s: float | None = None,
    ) -> list[CallResult]:
        """Run ``requests`` with at most ``settings.concurrency`` in flight; results in input order.

        ``on_done(i, result)`` is called (in this thread's loop) as each finishes. After ``deadline_s`` seconds
        (default: :meth:`LLMSettings.auto_deadline_s` of the number of requests) requests in flight are
        cancelled and every unfinished one fails with ``deadline``; when the circuit breaker opens, the same
        with ``circuit open``. ``KeyboardInterrupt`` (Ctrl-C) cancels everything in flight and propagates.
        """
        if not requests:
            return []
        budget = deadline_s if deadline_s is not None else self.settings.auto_deadline_s(len(requests))
        return run_coroutine(lambda: self._many(requests, on_done, budget))

    async def _many(
        self, requests: Sequence[Messages], on_done: Callable[[int, CallResult], None] | None, budget: float
    ) -> list[CallResult]:
        n = len(requests)
        results: list[CallResult | None] = [None] * n
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        todo = iter(range(n))
        workers: list[asyncio.Task[None]] = []

        def finish(i: int, res: CallResult) -> None:
            results[i] = res
            if on_done is not None:
                on_done(i, res)

        async def worker(http: Any) -> None:
            for i in todo:
                if self._breaker.reason is not None:
                    return
                finish(i, await self._complete(http, requests[i], deadline))
                if self._breaker.reason is not None:  # stop the others now: their answers would be wasted
                    me = asyncio.current_task()
                    for w in workers:
                        if w is not me:
                            w.cancel()
                    return

        async with self._http() as http:
            workers.extend(asyncio.create_task(worker(http)) for _ in range(min(self.settings.concurrency, n)))
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.gather(*workers, return_exceptions=True)
            except TimeoutError:
                pass
            finally:
                for w in workers:
                    w.cancel()
        reason = self._breaker.reason
        for i, res in enumerate(results):
            if res is None:
                finish(i, _circuit_open(reason, 0) if reason is not None else
                       CallResult(None, f"deadline of {budget:g} s for {n} requests exceeded", 0, kind=KIND_DEADLINE))
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ preflight
    def preflight(self) -> list[str]:
        """Check the server before the first question: ``GET /models`` (within ``preflight_timeout_s``), then one
        tiny chat request with the run's model, structured-output mode and sampling settings (within
        ``timeout_s``). Returns the model names the server lists; raises :class:`LLMServerError`."""
        t0 = time.perf_counter()
        try:
            return run_coroutine(self._preflight)
        finally:
            self.stats.add("preflight_s", time.perf_counter() - t0)

    async def _preflight(self) -> list[str]:
        s = self.settings
        async with self._http() as http:
            listed = await self._list_models(http)
            try:
                await self._post(http, self._body([{"role": "user", "content": PREFLIGHT_PROMPT}], max_tokens=1),
                                 s.timeout_s)
            except _Failure as exc:
                raise LLMServerError(self._explain(exc, listed)) from None
        if listed and s.model not in listed:
            log.warning("model %r is not among those %s lists (%s), but the server answers for it",
                        s.model, self.models_url, ", ".join(listed[:20]))
        return listed

    async def _list_models(self, http: Any) -> list[str]:
        httpx = self._httpx
        s = self.settings
        url = self.models_url
        try:
            async with asyncio.timeout(s.preflight_timeout_s):
                resp = await http.get(url)
        except (TimeoutError, httpx.TimeoutException):
            raise LLMServerError(f"the LLM server at {url} gave no answer within {s.preflight_timeout_s:g} s "
                                 "(GET /models): is it running and not overloaded?") from None
        except (httpx.ConnectError, OSError) as exc:
            raise LLMServerError(f"cannot connect to the LLM server at {url}: {_reason(exc)} — is it running, and "
                                 "are the host and port right?") from None
        except httpx.HTTPError as exc:
            raise LLMServerError(f"the LLM server at {url} broke the connection: {_reason(exc)}") from None
        status = resp.status_code
        text = server_message(resp.content)
        if status in (401, 403):
            raise LLMServerError(f"HTTP {status} from {url}: {text} — {self._key_hint()}")
        if status == 404:
            raise LLMServerError(f"HTTP 404 from {url}: {text} — is the base URL missing /v1? OpenAI-compatible "
                                 "servers answer under http://HOST:PORT/v1")
        if status != 200:
            raise LLMServerError(f"HTTP {status} from {url}: {text}")
        try:
            data = resp.json()
            listed = [str(m["id"]) for m in data["data"]]
        except (ValueError, KeyError, TypeError):
            raise LLMServerError(f"{url} is not an OpenAI-compatible API (GET /models answered {text[:120]!r}): "
                                 "is the base URL missing /v1?") from None
        return listed

    def _key_hint(self) -> str:
        env = self.settings.api_key_env
        state = "set" if self.settings.api_key() != "EMPTY" else "unset, so 'EMPTY' was sent"
        return f"check the API key (read from the environment variable {env}, which is {state})"

    def _explain(self, exc: _Failure, listed: list[str]) -> str:
        s = self.settings
        msg = exc.message
        if exc.kind in ("HTTP 401", "HTTP 403"):
            return f"{msg} — {self._key_hint()}"
        if exc.kind == "HTTP 404":
            names = f"; the server lists: {', '.join(listed[:20])}" if listed else ""
            return f"model {s.model!r} is unknown to the server: {msg}{names}"
        if exc.kind == "HTTP 400" and s.structured_output != "none":
            return (f"the server rejected a one-line request: {msg} (structured output {s.structured_output!r}; a "
                    "server without it works with 'json_object' or 'none')")
        if exc.kind == KIND_TIMEOUT:
            return f"{msg}, for a one-line request to model {s.model!r}"
        return f"the server failed a one-line request: {msg}"


async def _read_capped(resp: Any, limit: int) -> tuple[bytes, bool]:
    """The body up to ``limit`` bytes, and whether it was complete."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


def _choice(data: bytes, url: str) -> tuple[str | None, str | None]:
    """(content, finish_reason) of the first choice of a chat completion body."""
    try:
        payload = json.loads(data)
        choice = payload["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content")
        finish = choice.get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Failure(KIND_BAD_RESPONSE, f"{url} answered 200 with something that is not a chat completion: "
                       f"{server_message(data, 120)!r}", retryable=False) from None
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    return content, finish if isinstance(finish, str) else None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    if not text and cause is not None:
        text = str(cause).strip()
    return text or type(exc).__name__


def _circuit_open(reason: str, attempts: int) -> CallResult:
    return CallResult(None, f"LLM pass aborted: {reason}", attempts, kind=KIND_CIRCUIT_OPEN)


def _deadline(last: _Failure | None, attempts: int) -> CallResult:
    why = f" (last error: {last.message})" if last is not None else ""
    return CallResult(None, f"deadline exceeded{why}", attempts, kind=KIND_DEADLINE)

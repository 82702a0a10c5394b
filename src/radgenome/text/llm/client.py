"""A concurrency-limited, retrying chat-completions client over the official ``openai`` package.

The ``openai`` client's own retries are switched off (``max_retries=0``); this module retries instead, so the
retry count is observable and bounded by a deadline: exponential backoff with full jitter on 429, 408/409,
5xx, timeouts and connection errors, honouring ``Retry-After`` / ``retry-after-ms`` (capped by
``backoff_max_s``). Every request has a timeout and ``complete_many`` has an optional total deadline, after
which unfinished requests are reported as failed — nothing waits forever.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from radgenome.text.llm.schema import response_format
from radgenome.text.llm.settings import LLMSettings
from radgenome.text.llm.stats import LLMStats

__all__ = ["CallResult", "ChatClient", "LLMDependencyError", "Messages"]

Messages = list[dict[str, str]]
_RETRYABLE_STATUS = frozenset({408, 409, 429})


class LLMDependencyError(RuntimeError):
    """The ``openai`` package is missing."""


@dataclass(frozen=True, slots=True)
class CallResult:
    content: str | None
    """The answer text (None when the call failed)."""
    error: str | None = None
    """Why the call failed (None on success)."""
    attempts: int = 0
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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


class ChatClient:
    """Sends chat requests with retries; ``complete_many`` runs them ``settings.concurrency`` at a time."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        stats: LLMStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        try:
            import openai
        except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
            raise LLMDependencyError("the LLM backend needs the openai package: pip install 'radgenome[llm]'") from exc
        self._openai = openai
        self.settings = settings
        self.stats = stats if stats is not None else LLMStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._client = openai.OpenAI(
            base_url=settings.base_url, api_key=settings.api_key(), max_retries=0, timeout=settings.timeout_s
        )
        self._response_format = response_format(settings.structured_output)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one request
    def _backoff(self, retry: int) -> float:
        cap = min(self.settings.backoff_max_s, self.settings.backoff_base_s * (2**retry))
        with self._rng_lock:
            return self._rng.uniform(0.0, cap)

    def _classify(self, exc: Exception) -> tuple[bool, float | None, str]:
        """(retryable, server-requested wait, description)."""
        o = self._openai
        if isinstance(exc, o.APITimeoutError):
            return True, None, "timeout"
        if isinstance(exc, o.APIConnectionError):
            return True, None, f"connection error: {exc}"
        if isinstance(exc, o.APIStatusError):
            code = exc.status_code
            retryable = code in _RETRYABLE_STATUS or code >= 500
            wait_s = _retry_after_s(exc.response.headers) if retryable else None
            return retryable, wait_s, f"HTTP {code}"
        return False, None, f"{type(exc).__name__}: {exc}"

    def complete(
        self, messages: Messages, *, deadline: float | None = None, stop: threading.Event | None = None
    ) -> CallResult:
        """One chat completion with retries. ``deadline`` is a ``time.monotonic()`` instant."""
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
        }
        if self._response_format is not None:
            kwargs["response_format"] = self._response_format
        attempts = 0
        last_error = "not attempted"
        for retry in range(s.max_retries + 1):
            if stop is not None and stop.is_set():
                return CallResult(None, f"stopped ({last_error})", attempts)
            timeout = s.timeout_s
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return CallResult(None, f"deadline exceeded ({last_error})", attempts)
                timeout = min(timeout, remaining)
            attempts += 1
            self.stats.add("requests")
            if retry:
                self.stats.add("retries")
            try:
                resp = self._client.chat.completions.create(**kwargs, timeout=timeout)
            except self._openai.OpenAIError as exc:
                retryable, server_wait, last_error = self._classify(exc)
                if not retryable or retry == s.max_retries:
                    return CallResult(None, last_error, attempts)
                delay = self._backoff(retry) if server_wait is None else min(server_wait, s.backoff_max_s)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    return CallResult(None, f"deadline exceeded ({last_error})", attempts)
                if delay > 0:
                    if stop is not None:
                        if stop.wait(delay):
                            return CallResult(None, f"stopped ({last_error})", attempts)
                    else:
                        self._sleep(delay)
                continue
            if not resp.choices:
                return CallResult(None, "answer without choices", attempts)
            choice = resp.choices[0]
            return CallResult(choice.message.content, None, attempts, choice.finish_reason)
        return CallResult(None, last_error, attempts)  # pragma: no cover - the loop always returns

    # ------------------------------------------------------------------ many requests
    def complete_many(
        self,
        requests: Sequence[Messages],
        *,
        on_done: Callable[[int, CallResult], None] | None = None,
        deadline_s: float | None = None,
    ) -> list[CallResult]:
        """Run ``requests`` with at most ``settings.concurrency`` in flight; results in input order.

        ``on_done(i, result)`` is called (from this thread) as each finishes. With ``deadline_s``, requests
        unfinished after that many seconds are returned as failures and no new attempts start.
        """
        n = len(requests)
        results: list[CallResult | None] = [None] * n
        if n == 0:
            return []
        deadline = time.monotonic() + deadline_s if deadline_s is not None else None
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(self.settings.concurrency, n), thread_name_prefix="radgenome-llm")
        try:
            futures: dict[Future[CallResult], int] = {
                pool.submit(self.complete, msgs, deadline=deadline, stop=stop): i for i, msgs in enumerate(requests)
            }
            pending = set(futures)
            while pending:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    exc = fut.exception()
                    res = fut.result() if exc is None else CallResult(None, f"{type(exc).__name__}: {exc}")
                    results[i] = res
                    if on_done is not None:
                        on_done(i, res)
                if not done and deadline is not None and time.monotonic() >= deadline:
                    break
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
        out: list[CallResult] = []
        for i, res in enumerate(results):
            if res is None:
                res = CallResult(None, "deadline exceeded")
                if on_done is not None:
                    on_done(i, res)
            out.append(res)
        return out

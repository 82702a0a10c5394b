"""Test harness shipped with the package (not used by the library itself): a scripted OpenAI-compatible
chat-completions server on 127.0.0.1, for the test suite, ``benchmarks/bench_llm*.py`` and dry runs of the LLM
backends without a model (``radgenome text --backend llm --llm-base-url`` pointed at it).

``POST /v1/chat/completions`` answers from a script keyed by the input sentence (the last line of the last
user message, without the ``Sentence:`` prefix): each sentence has a list of :class:`Reply` consumed in call
order (the last one repeats); unscripted sentences get ``default(sentence)``. Every request is recorded
(``requests``), except the LLM backend's preflight request, recorded apart (``preflight_requests``).
``GET /v1/models`` lists ``models`` (or answers ``models_reply`` when set).

Like real servers it can: refuse an unknown model (404 with vLLM's message, when ``models`` is given), refuse a
bad key (401, when ``api_key`` is given), answer with an error status and a message, answer late, trickle its
answer byte by byte (:meth:`Reply.trickle`), never answer (:meth:`Reply.hang`: it notices when the client hangs
up, counted in ``disconnects``), send a ``<think>`` block or prose around the JSON (:meth:`Reply.raw`), or stop at
the token limit (``finish_reason="length"``).
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "answer_json"]

PREFLIGHT_MARK = "radgenome preflight"
"""The LLM backend's preflight request is the one whose user message starts with this."""


def answer_json(nodes: Iterable[str], findings: Iterable[dict[str, Any]] = ()) -> str:
    """A well-formed answer; finding dicts may omit ``size_text`` and ``attributes``."""
    full = [{"size_text": None, "attributes": [], **f} for f in findings]
    return json.dumps({"nodes": list(nodes), "findings": full})


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None
    """Assistant message content for a 200 reply."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Sleep before answering (longer than the client timeout simulates a timeout)."""
    message: str | None = None
    """The error text of a non-200 reply (``{"error": {"message": ...}}``)."""
    finish_reason: str = "stop"
    trickle_s: float | None = None
    """Send the body one byte at a time, this many seconds apart."""
    hang: bool = False
    """Never answer (until the client hangs up or the server stops)."""
    body: bytes | None = None
    """A raw response body instead of a chat completion (e.g. an HTML page)."""

    @classmethod
    def answer(cls, nodes: Iterable[str], findings: Iterable[dict[str, Any]] = (), delay_s: float = 0.0) -> Reply:
        return cls(content=answer_json(nodes, findings), delay_s=delay_s)

    @classmethod
    def raw(cls, content: str, finish_reason: str = "stop") -> Reply:
        return cls(content=content, finish_reason=finish_reason)

    @classmethod
    def error(cls, status: int, retry_after: float | None = None, message: str | None = None) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls(status=status, headers=headers, message=message)

    @classmethod
    def trickle(cls, content: str, interval_s: float) -> Reply:
        return cls(content=content, trickle_s=interval_s)

    @classmethod
    def hung(cls) -> Reply:
        return cls(hang=True)


@dataclass(frozen=True)
class RecordedRequest:
    sentence: str
    body: dict[str, Any]
    time: float


def _sentence_of(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    last = text.rsplit("\n", 1)[-1]  # after an optional "Previous sentence: ..." line
    return last.removeprefix("Sentence: ")


GATHER_SAFETY_S = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    """Listen backlog (socketserver's default of 5 drops connections when many arrive at once)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that hung up (timeouts, cancellation): expected here
        super().handle_error(request, client_address)


class ScriptedServer:
    """Start with ``with ScriptedServer(...) as srv:``; point clients at ``srv.url``."""

    def __init__(
        self,
        script: dict[str, list[Reply]] | None = None,
        *,
        default: Callable[[str], Reply] | None = None,
        latency_s: float = 0.0,
        gather: int = 0,
        models: Sequence[str] | None = None,
        models_reply: Reply | None = None,
        api_key: str | None = None,
    ) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.default = default or (lambda _s: Reply.answer(["others"]))
        self.latency_s = latency_s
        self.models = list(models) if models is not None else None
        """The served models: ``GET /models`` lists them and a chat request for another gets a 404. None: any
        model is answered (as llama.cpp's server does) and none is listed."""
        self.models_reply = models_reply
        """What ``GET /models`` answers instead of the list (an error, a hang, an HTML page)."""
        self.api_key = api_key
        """When set, requests without ``Authorization: Bearer <api_key>`` get a 401."""
        self.requests: list[RecordedRequest] = []
        self.preflight_requests: list[RecordedRequest] = []
        self.model_list_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.disconnects = 0
        """Requests the client hung up on before the answer was complete (hung or trickling replies)."""
        self.trickled_bytes: list[int] = []
        """Per trickled reply: the body bytes sent before it finished or the client hung up."""
        self.gather = gather
        """When > 1, the first requests are held until this many are in flight at once (proof of parallelism
        without timing); ``gathered`` tells whether that happened."""
        self.gathered = False
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ script
    def _next_reply(self, sentence: str) -> Reply:
        with self._lock:
            queue = self.script.get(sentence)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return self.default(sentence)

    def count(self, sentence: str | None = None) -> int:
        """Chat requests received (for ``sentence``, or all), the preflight's not counted."""
        with self._lock:
            return sum(1 for r in self.requests if sentence is None or r.sentence == sentence)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.preflight_requests.clear()
            self.model_list_requests = 0
            self.max_in_flight = 0

    def wait_for(self, condition: Callable[[ScriptedServer], bool], timeout_s: float = 60.0) -> bool:
        """Wait until ``condition(server)`` holds (checked as requests arrive and end); False after the safety
        timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: condition(self), timeout=timeout_s)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _changed(self) -> None:
        with self._arrived:
            self._arrived.notify_all()

    def start(self) -> ScriptedServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, payload: dict[str, Any] | bytes, headers: dict[str, str],
                      trickle_s: float | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if trickle_s is None:
                    self.wfile.write(data)
                    return
                sent = 0
                try:
                    for i in range(len(data)):
                        if server._stopping.wait(trickle_s) or self._client_gone():
                            with server._lock:
                                server.disconnects += 1
                            return
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.disconnects += 1
                finally:
                    with server._lock:
                        server.trickled_bytes.append(sent)
                    server._changed()

            def _client_gone(self) -> bool:
                """True when the client closed its end (readable with nothing to read)."""
                sock: socket.socket = self.connection
                try:
                    readable, _, _ = select.select([sock], [], [], 0)
                    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _hang(self) -> None:
                while not server._stopping.wait(0.02):
                    if self._client_gone():
                        with server._lock:
                            server.disconnects += 1
                        server._changed()
                        return

            def _authorized(self) -> bool:
                if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}}, {})
                return False

            def do_GET(self) -> None:
                if not self.path.rstrip("/").endswith("/v1/models"):
                    self._send(404, {"detail": "Not Found"}, {})
                    return
                with server._lock:
                    server.model_list_requests += 1
                server._changed()
                if not self._authorized():
                    return
                reply = server.models_reply
                if reply is not None:
                    self._reply(reply, {})
                    return
                names = server.models if server.models is not None else []
                self._send(200, {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "radgenome"}
                                                            for n in names]}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if not self.path.rstrip("/").endswith("/v1/chat/completions"):
                    self._send(404, {"detail": "Not Found"}, {})
                    return
                sentence = _sentence_of(body)
                preflight = sentence.startswith(PREFLIGHT_MARK)
                with server._lock:
                    (server.preflight_requests if preflight else server.requests).append(
                        RecordedRequest(sentence, body, time.monotonic())
                    )
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server._arrived.notify_all()
                    if server.gather > 1 and not server.gathered and not preflight:
                        if server.in_flight >= server.gather:
                            server.gathered = True
                            server._arrived.notify_all()
                        else:  # a client that never sends requests in parallel leaves this after the safety net
                            server._arrived.wait_for(lambda: server.gathered, timeout=GATHER_SAFETY_S)
                try:
                    if not self._authorized():
                        return
                    model = str(body.get("model", ""))
                    if server.models is not None and model not in server.models:
                        self._send(404, {"error": {"message": f"The model `{model}` does not exist.",
                                                   "type": "NotFoundError", "code": 404}}, {})
                        return
                    self._reply(server._next_reply(sentence), body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) before we answered
                finally:
                    with server._lock:
                        server.in_flight -= 1
                    server._changed()

            def _reply(self, reply: Reply, body: dict[str, Any]) -> None:
                pause = server.latency_s + reply.delay_s
                if pause and server._stopping.wait(pause):
                    return
                if reply.hang:
                    self._hang()
                    return
                if reply.body is not None:
                    self._send(reply.status, reply.body, reply.headers, reply.trickle_s)
                    return
                if reply.status != 200:
                    text = reply.message or f"scripted {reply.status}"
                    err = {"error": {"message": text, "type": "scripted", "code": reply.status}}
                    self._send(reply.status, err, reply.headers, reply.trickle_s)
                    return
                payload = {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }
                self._send(200, payload, reply.headers, reply.trickle_s)

        httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

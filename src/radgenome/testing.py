"""Test harness shipped with the package (not used by the library itself): a scripted OpenAI-compatible
chat-completions server on 127.0.0.1, for the test suite, ``benchmarks/bench_llm.py`` and dry runs of the LLM
backends without a model (``radgenome text --backend llm --llm-base-url`` pointed at it).

``POST /v1/chat/completions`` answers from a script keyed by the input sentence (the last line of the last
user message, without the ``Sentence:`` prefix): each sentence has a list of :class:`Reply` consumed in call
order (the last one repeats); unscripted sentences get ``default(sentence)``. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "answer_json"]


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

    @classmethod
    def answer(cls, nodes: Iterable[str], findings: Iterable[dict[str, Any]] = (), delay_s: float = 0.0) -> Reply:
        return cls(content=answer_json(nodes, findings), delay_s=delay_s)

    @classmethod
    def raw(cls, content: str) -> Reply:
        return cls(content=content)

    @classmethod
    def error(cls, status: int, retry_after: float | None = None) -> Reply:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls(status=status, headers=headers)


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


class ScriptedServer:
    """Start with ``with ScriptedServer(...) as srv:``; point clients at ``srv.url``."""

    def __init__(
        self,
        script: dict[str, list[Reply]] | None = None,
        *,
        default: Callable[[str], Reply] | None = None,
        latency_s: float = 0.0,
        gather: int = 0,
    ) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.default = default or (lambda _s: Reply.answer(["others"]))
        self.latency_s = latency_s
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gather = gather
        """When > 1, the first requests are held until this many are in flight at once (proof of parallelism
        without timing); ``gathered`` tells whether that happened."""
        self.gathered = False
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
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
        with self._lock:
            return sum(1 for r in self.requests if sentence is None or r.sentence == sentence)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}}, {})
                    return
                sentence = _sentence_of(body)
                with server._lock:
                    server.requests.append(RecordedRequest(sentence, body, time.monotonic()))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    if server.gather > 1 and not server.gathered:
                        if server.in_flight >= server.gather:
                            server.gathered = True
                            server._arrived.notify_all()
                        else:  # a client that never sends requests in parallel leaves this after the safety net
                            server._arrived.wait_for(lambda: server.gathered, timeout=GATHER_SAFETY_S)
                try:
                    reply = server._next_reply(sentence)
                    pause = server.latency_s + reply.delay_s
                    if pause:
                        time.sleep(pause)
                    if reply.status != 200:
                        err = {"error": {"message": f"scripted {reply.status}", "type": "scripted", "code": None}}
                        self._send(reply.status, err, reply.headers)
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
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                    }
                    self._send(200, payload, reply.headers)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) before we answered
                finally:
                    with server._lock:
                        server.in_flight -= 1

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
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

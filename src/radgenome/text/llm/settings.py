"""Settings of the LLM text backend (any OpenAI-compatible chat completions server)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_CACHE_DIR", "LLMMode", "LLMSettings", "StructuredOutput"]

LLMMode = Literal["llm", "hybrid"]
StructuredOutput = Literal["json_schema", "json_object", "none"]

DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "radgenome" / "llm"


class LLMSettings(BaseModel):
    """How to reach the model, how hard to try and when to give up.

    ``mode="llm"``: the model grounds every findings/impressions sentence and extracts its findings.
    ``mode="hybrid"``: the rules first; only sentences whose ``grounding_confidence`` is below
    ``confidence_threshold`` (or that are grounded to ``others`` / to nothing) go to the model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field("http://localhost:8000/v1", description="OpenAI-compatible API root (ends in /v1).")
    model: str = Field(..., min_length=1, description="Model name as the server knows it.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the API key; 'EMPTY' is sent when unset."
    )
    mode: LLMMode = "hybrid"
    concurrency: int = Field(8, ge=1, le=1024, description="Requests in flight at once.")
    timeout_s: float = Field(
        60.0,
        gt=0,
        description="Total time one request may take, from connecting to the last byte of the answer (a server "
        "that keeps sending bytes slowly is cut off too).",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="Time to open a connection (within timeout_s).")
    deadline_s: float | None = Field(
        None,
        gt=0,
        description="Wall-clock budget of one refine_many call; unanswered sentences fall back. None: scaled to "
        "the work (see auto_deadline_s).",
    )
    max_retries: int = Field(4, ge=0, description="Retries on 429, 5xx, timeouts, connection errors.")
    backoff_base_s: float = Field(0.5, ge=0, description="First backoff step (doubles, full jitter).")
    backoff_max_s: float = Field(30.0, ge=0, description="Cap of one backoff wait (also caps Retry-After).")
    max_consecutive_errors: int = Field(
        5,
        ge=1,
        description="Circuit breaker: this many failed attempts in a row (connection errors, timeouts, HTTP 4xx "
        "other than 429, 5xx) abort the LLM pass.",
    )
    max_consecutive_bad_answers: int = Field(
        20,
        ge=1,
        description="This many unusable answers in a row (not JSON, off-schema, truncated, unsupported phrases) "
        "abort the LLM pass.",
    )
    min_success: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="The run succeeds only when the model's answer was applied to at least this share of the "
        "sentences sent to it (cache hits count as answered).",
    )
    preflight: bool = Field(
        True,
        description="Before the first question: GET /models, then one tiny chat request; a server that cannot "
        "work fails the run at once with its URL, status and message.",
    )
    preflight_timeout_s: float = Field(10.0, gt=0, description="Total time of the GET /models check.")
    cache_dir: Path | None = Field(DEFAULT_CACHE_DIR, description="Answer cache folder; None: no cache.")
    confidence_threshold: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Hybrid: ask the model below this (rules: 1.0 anatomy named, 0.8 implied by the finding, "
        "0.6 or less borrowed from the previous sentence, 0.3 others).",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=16, description="Completion token limit per sentence.")
    max_answer_bytes: int = Field(
        65536,
        ge=1024,
        description="Largest answer accepted (bytes of the message text, a <think> block included); the HTTP "
        "body is cut off at four times this.",
    )
    structured_output: StructuredOutput = Field(
        "json_schema",
        description="json_schema (vLLM, Ollama >= 0.5, llama.cpp server, OpenAI), json_object, or none "
        "(prompt-only; answers are still validated).",
    )

    def api_key(self) -> str:
        """The key from ``api_key_env``; local servers accept any key, so ``EMPTY`` when it is unset."""
        return os.environ.get(self.api_key_env) or "EMPTY"

    @property
    def root_url(self) -> str:
        """``base_url`` without a trailing slash."""
        return self.base_url.rstrip("/")

    def auto_deadline_s(self, n_requests: int) -> float:
        """The default budget of a pass of ``n_requests`` questions: every request may take its whole
        ``timeout_s`` once, in waves of ``concurrency``, with half as much again for retries, plus one more
        timeout (the preflight's tiny request)."""
        waves = math.ceil(max(n_requests, 1) / self.concurrency)
        return self.timeout_s * (1.5 * waves + 1)

    def answer_identity(self, prompt_version: str) -> str:
        """Everything that changes the model's answer to a question, as a canonical string (part of the cache
        key): server, model, prompt and schema version, structured-output mode and sampling settings."""
        return json.dumps(
            {
                "base_url": self.root_url,
                "model": self.model,
                "prompt_version": prompt_version,
                "structured_output": self.structured_output,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
            },
            sort_keys=True,
        )

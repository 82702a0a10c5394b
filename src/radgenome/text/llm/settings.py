"""Settings of the LLM text backend (any OpenAI-compatible chat completions server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_CACHE_DIR", "LLMMode", "LLMSettings", "StructuredOutput"]

LLMMode = Literal["llm", "hybrid"]
StructuredOutput = Literal["json_schema", "json_object", "none"]

DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "radgenome" / "llm"


class LLMSettings(BaseModel):
    """How to reach the model and how hard to try.

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
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout in seconds.")
    deadline_s: float | None = Field(
        None,
        gt=0,
        description="Wall-clock budget of one refine_many call; unanswered sentences fall back.",
    )
    max_retries: int = Field(4, ge=0, description="Retries on 429, 5xx, timeouts, connection errors.")
    backoff_base_s: float = Field(0.5, ge=0, description="First backoff step (doubles, full jitter).")
    backoff_max_s: float = Field(30.0, ge=0, description="Cap of one backoff wait (also caps Retry-After).")
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
    structured_output: StructuredOutput = Field(
        "json_schema",
        description="json_schema (vLLM, Ollama >= 0.5, llama.cpp server, OpenAI), json_object, or none "
        "(prompt-only; answers are still validated).",
    )

    def api_key(self) -> str:
        """The key from ``api_key_env``; local servers accept any key, so ``EMPTY`` when it is unset."""
        return os.environ.get(self.api_key_env) or "EMPTY"

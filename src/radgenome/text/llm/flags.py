"""The flags the LLM backend puts on a sentence (``Sentence.flags``), one per way an answer can go wrong.

Every flag but ``llm_size_unmatched`` means the model's answer was not used: the sentence keeps the rules'
result (``Sentence.backend == "rules"``) and the flag says why.
"""

from __future__ import annotations

__all__ = [
    "FAILURE_FLAGS",
    "FLAG_FAILED",
    "FLAG_INVALID_JSON",
    "FLAG_SCHEMA_VIOLATION",
    "FLAG_SIZE_UNMATCHED",
    "FLAG_TOO_LARGE",
    "FLAG_TRUNCATED",
    "FLAG_UNSUPPORTED_PHRASE",
]

FLAG_FAILED = "llm_failed"
"""No answer: connection error, timeout, HTTP error after all retries, circuit breaker open, deadline."""
FLAG_INVALID_JSON = "llm_invalid_json"
"""The answer holds no (single) JSON object."""
FLAG_SCHEMA_VIOLATION = "llm_schema_violation"
"""JSON, but not the answer schema: unknown node, missing field, too many findings, phrase too long, ..."""
FLAG_TRUNCATED = "llm_truncated"
"""The server stopped the answer at the token limit (``finish_reason: length``) before it was usable."""
FLAG_TOO_LARGE = "llm_answer_too_large"
"""The answer is larger than ``max_answer_bytes``."""
FLAG_UNSUPPORTED_PHRASE = "llm_unsupported_phrase"
"""A finding phrase with words that are not in the sentence (or the previous sentence given as context): the
model invented or rephrased it, so the answer is not used and nothing of it reaches the VQA tables."""
FLAG_SIZE_UNMATCHED = "llm_size_unmatched"
"""The answer was used, but a size the model quoted is not among the sentence's measurements (that finding keeps
no measurement)."""

FAILURE_FLAGS: tuple[str, ...] = (
    FLAG_FAILED,
    FLAG_INVALID_JSON,
    FLAG_SCHEMA_VIOLATION,
    FLAG_TRUNCATED,
    FLAG_TOO_LARGE,
    FLAG_UNSUPPORTED_PHRASE,
)
"""The flags of a sentence whose answer was not used."""

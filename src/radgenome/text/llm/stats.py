"""Counters of one LLM backend (requests, cache hits, retries, answers, fallbacks by flag and failure kind)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LLMStats"]


@dataclass
class LLMStats:
    requests: int = 0
    """HTTP requests sent for sentences (every attempt, retries included; the preflight not counted)."""
    retries: int = 0
    """Attempts after the first one for a request (429, 5xx, timeouts, connection errors)."""
    cache_hits: int = 0
    """Distinct sentence texts answered from the cache."""
    sentences_sent: int = 0
    """Sentences that needed the model (before de-duplication and the cache)."""
    unique_texts: int = 0
    """Distinct sentence texts among them."""
    answered: int = 0
    """Sentences whose model answer was applied (from the server or the cache)."""
    kept_rules: int = 0
    """Sentences the hybrid mode left to the rules (confident grounding)."""
    fallbacks: Counter[str] = field(default_factory=Counter)
    """Sentences that fell back to the rules, by flag."""
    failure_kinds: Counter[str] = field(default_factory=Counter)
    """Sentences flagged ``llm_failed``, by failure kind (``timeout``, ``HTTP 500``, ``circuit open``, ...)."""
    aborted: str = ""
    """Why the LLM pass was aborted (circuit breaker), '' when it was not."""
    preflight_s: float = 0.0
    elapsed_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, n: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_fallback(self, flag: str, kind: str = "", n: int = 1) -> None:
        with self._lock:
            self.fallbacks[flag] += n
            if kind:
                self.failure_kinds[kind] += n

    @property
    def cache_hit_rate(self) -> float:
        """Cache hits over distinct texts looked up (0 when nothing was looked up)."""
        return self.cache_hits / self.unique_texts if self.unique_texts else 0.0

    @property
    def success_rate(self) -> float:
        """Answered sentences over the sentences sent to the model (1.0 when none was sent)."""
        return self.answered / self.sentences_sent if self.sentences_sent else 1.0

    def failure_summary(self) -> str:
        """``llm_failed 480 (circuit open 470, HTTP 500 10); llm_schema_violation 3`` ('' when nothing failed)."""
        with self._lock:
            parts = []
            for flag, n in self.fallbacks.most_common():
                part = f"{flag} {n}"
                if flag == "llm_failed" and self.failure_kinds:
                    part += " (" + ", ".join(f"{k} {c}" for k, c in self.failure_kinds.most_common()) + ")"
                parts.append(part)
            return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "cache_hits": self.cache_hits,
                "cache_hit_rate": round(self.cache_hit_rate, 4),
                "sentences_sent": self.sentences_sent,
                "unique_texts": self.unique_texts,
                "answered": self.answered,
                "success_rate": round(self.success_rate, 4),
                "kept_rules": self.kept_rules,
                "fallbacks": dict(self.fallbacks),
                "failure_kinds": dict(self.failure_kinds),
                "aborted": self.aborted,
                "preflight_s": round(self.preflight_s, 3),
                "elapsed_s": round(self.elapsed_s, 3),
            }

"""Thread-safe counters of one LLM backend (requests, cache hits, retries, fallbacks)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LLMStats"]


@dataclass
class LLMStats:
    requests: int = 0
    """HTTP requests sent (every attempt, retries included)."""
    retries: int = 0
    """Attempts after the first one for a request (429, 5xx, timeouts, connection errors)."""
    cache_hits: int = 0
    """Sentences answered from the cache."""
    sentences_sent: int = 0
    """Sentences that needed the model (before de-duplication and the cache)."""
    unique_texts: int = 0
    """Distinct sentence texts among them."""
    answered: int = 0
    """Sentences whose model answer was applied."""
    kept_rules: int = 0
    """Sentences the hybrid mode left to the rules (confident grounding)."""
    fallbacks: Counter[str] = field(default_factory=Counter)
    """Sentences that fell back to the rules, by flag."""
    elapsed_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add_fallback(self, flag: str, n: int = 1) -> None:
        with self._lock:
            self.fallbacks[flag] += n

    @property
    def cache_hit_rate(self) -> float:
        """Cache hits over distinct texts looked up (0 when nothing was looked up)."""
        return self.cache_hits / self.unique_texts if self.unique_texts else 0.0

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
                "kept_rules": self.kept_rules,
                "fallbacks": dict(self.fallbacks),
                "elapsed_s": round(self.elapsed_s, 3),
            }

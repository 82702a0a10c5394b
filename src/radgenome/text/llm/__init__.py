"""LLM text backend: ground sentences and extract findings with any OpenAI-compatible server.

``LLMBackend(LLMSettings(...)).refine_many(rules_analyses)`` returns the analyses refined by the model
(mode ``llm``: every findings/impressions sentence; mode ``hybrid``: only the rules' low-confidence ones).
Needs the ``[llm]`` extra (``httpx``) only when requests are actually sent.
"""

from radgenome.text.llm.backend import LLMBackend
from radgenome.text.llm.cache import AnswerCache
from radgenome.text.llm.client import LLMServerError
from radgenome.text.llm.flags import (
    FAILURE_FLAGS,
    FLAG_FAILED,
    FLAG_INVALID_JSON,
    FLAG_SCHEMA_VIOLATION,
    FLAG_SIZE_UNMATCHED,
    FLAG_TOO_LARGE,
    FLAG_TRUNCATED,
    FLAG_UNSUPPORTED_PHRASE,
)
from radgenome.text.llm.prompts import PROMPT_VERSION, load_prompt
from radgenome.text.llm.settings import LLMSettings
from radgenome.text.llm.stats import LLMStats

__all__ = [
    "FAILURE_FLAGS",
    "FLAG_FAILED",
    "FLAG_INVALID_JSON",
    "FLAG_SCHEMA_VIOLATION",
    "FLAG_SIZE_UNMATCHED",
    "FLAG_TOO_LARGE",
    "FLAG_TRUNCATED",
    "FLAG_UNSUPPORTED_PHRASE",
    "PROMPT_VERSION",
    "AnswerCache",
    "LLMBackend",
    "LLMServerError",
    "LLMSettings",
    "LLMStats",
    "load_prompt",
]

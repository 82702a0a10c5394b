"""LLM text backend: ground sentences and extract findings with any OpenAI-compatible server.

``LLMBackend(LLMSettings(...)).refine_many(rules_analyses)`` returns the analyses refined by the model
(mode ``llm``: every findings/impressions sentence; mode ``hybrid``: only the rules' low-confidence ones).
Needs the ``[llm]`` extra (``openai``, ``httpx``) only when requests are actually sent.
"""

from radgenome.text.llm.backend import (
    FLAG_FAILED,
    FLAG_INVALID_JSON,
    FLAG_SCHEMA_VIOLATION,
    FLAG_SIZE_UNMATCHED,
    LLMBackend,
)
from radgenome.text.llm.cache import AnswerCache
from radgenome.text.llm.prompts import PROMPT_VERSION, load_prompt
from radgenome.text.llm.settings import LLMSettings
from radgenome.text.llm.stats import LLMStats

__all__ = [
    "FLAG_FAILED",
    "FLAG_INVALID_JSON",
    "FLAG_SCHEMA_VIOLATION",
    "FLAG_SIZE_UNMATCHED",
    "PROMPT_VERSION",
    "AnswerCache",
    "LLMBackend",
    "LLMSettings",
    "LLMStats",
    "load_prompt",
]

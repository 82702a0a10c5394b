"""The model's answer for one sentence, as pydantic models, and the strict JSON schema sent to the server.

The node field is an enum of the region hierarchy's nodes plus ``others``, so a server with structured output
(vLLM, Ollama, llama.cpp server, OpenAI) can only produce valid node names; answers from servers that ignore
the schema are validated against the same models.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from radgenome.anatomy import load_hierarchy

__all__ = [
    "OTHERS",
    "AnswerError",
    "FindingAnswer",
    "SentenceAnswerBase",
    "allowed_nodes",
    "answer_model",
    "parse_answer",
    "response_format",
    "schema_fingerprint",
    "strict_json_schema",
]

OTHERS = "others"
SCHEMA_NAME = "radgenome_sentence"


class FindingAnswer(BaseModel):
    """One finding the sentence states."""

    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(..., description="Lower-case finding phrase without location words, e.g. 'nodule'.")
    polarity: Literal["present", "absent", "uncertain"]
    size_text: str | None = Field(None, description="The size exactly as written in the sentence, or null.")
    attributes: list[str] = Field(
        default_factory=list, description="Hedging, comparison and change words as written, e.g. 'regressed'."
    )

    @field_validator("phrase")
    @classmethod
    def _phrase_not_blank(cls, v: str) -> str:
        v = " ".join(v.split()).lower()
        if not v:
            raise ValueError("empty finding phrase")
        return v


class SentenceAnswerBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: list[str]
    findings: list[FindingAnswer]

    @field_validator("nodes")
    @classmethod
    def _nodes_not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("no node given (use 'others' when none of the regions applies)")
        return v


@cache
def allowed_nodes() -> tuple[str, ...]:
    """Every node the model may choose: the hierarchy's nodes, sorted, then ``others``."""
    return (*sorted(load_hierarchy().nodes), OTHERS)


@cache
def answer_model() -> type[SentenceAnswerBase]:
    """The pydantic model of one sentence's answer, its ``nodes`` restricted to :func:`allowed_nodes`."""
    node_type = Literal[allowed_nodes()]  # type: ignore[valid-type]
    return create_model(
        "SentenceAnswer",
        __base__=SentenceAnswerBase,
        nodes=(
            list[node_type],  # type: ignore[valid-type]
            Field(..., description="Finest anatomical nodes the sentence describes; ['others'] when none."),
        ),
    )


def _strictify(node: Any) -> None:
    """OpenAI strict mode: every property required, no extra properties, no defaults."""
    if isinstance(node, dict):
        node.pop("default", None)
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        for value in node.values():
            _strictify(value)
    elif isinstance(node, list):
        for value in node:
            _strictify(value)


@cache
def _strict_schema_json() -> str:
    schema = copy.deepcopy(answer_model().model_json_schema())
    _strictify(schema)
    return json.dumps(schema)


def strict_json_schema() -> dict[str, Any]:
    """The answer's JSON schema in the strict form structured-output servers accept."""
    return json.loads(_strict_schema_json())


def schema_fingerprint() -> str:
    """Short hash of the schema (changes when the hierarchy's nodes change)."""
    return hashlib.sha256(_strict_schema_json().encode()).hexdigest()[:8]


def response_format(kind: str = "json_schema") -> dict[str, Any] | None:
    """The ``response_format`` argument for ``chat.completions.create`` (None for prompt-only)."""
    if kind == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": strict_json_schema(), "strict": True},
        }
    if kind == "json_object":
        return {"type": "json_object"}
    return None


class AnswerError(ValueError):
    """An answer that cannot be used; ``flag`` is the Sentence flag to record."""

    def __init__(self, flag: str, detail: str) -> None:
        super().__init__(f"{flag}: {detail}")
        self.flag = flag
        self.detail = detail


def _strip_fences(text: str) -> str:
    s = text.strip()
    if s.startswith("```"):
        s = s.split("\n", 1)[1] if "\n" in s else ""
        if s.rstrip().endswith("```"):
            s = s.rstrip()[:-3]
    return s.strip()


def parse_answer(content: str | None) -> SentenceAnswerBase:
    """Parse and validate one answer; raises :class:`AnswerError` (``llm_invalid_json`` or
    ``llm_schema_violation``)."""
    if content is None or not content.strip():
        raise AnswerError("llm_invalid_json", "empty answer")
    try:
        data = json.loads(_strip_fences(content))
    except json.JSONDecodeError as exc:
        raise AnswerError("llm_invalid_json", str(exc)) from None
    try:
        return answer_model().model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "literal_error":
            detail = f"{where}: {first.get('input')!r} is not an allowed value"
        else:
            detail = f"{where}: {first.get('msg', '')}"[:200]
        raise AnswerError("llm_schema_violation", detail) from None

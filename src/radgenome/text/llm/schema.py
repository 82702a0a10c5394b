"""The model's answer for one sentence, as pydantic models, and the strict JSON schema sent to the server.

The schema sent and the validator are the same pydantic model, so they agree by construction: the ``nodes``
field is an enum of every name the rules can emit — the region hierarchy's nodes, the top-level regions that are
not themselves nodes (``mediastinum``, ``trachea and bronchie``) and ``others`` — with at least one item; the
answer's size is bounded (numbers of nodes, findings and attributes, length of each phrase). A server with
structured output (vLLM, Ollama, llama.cpp server, OpenAI) can only produce valid answers; answers from servers
that ignore the schema are validated against the same model.

:func:`parse_answer` accepts what local models really send around the JSON: a ``<think>…</think>`` block
(qwen3, deepseek-r1), a fenced code block, or prose around one JSON object.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.text.llm.flags import FLAG_INVALID_JSON, FLAG_SCHEMA_VIOLATION, FLAG_TOO_LARGE, FLAG_TRUNCATED

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_FINDINGS",
    "MAX_NODES",
    "MAX_PHRASE_CHARS",
    "OTHERS",
    "AnswerError",
    "FindingAnswer",
    "SentenceAnswerBase",
    "allowed_nodes",
    "answer_model",
    "extract_json",
    "parse_answer",
    "response_format",
    "schema_fingerprint",
    "strict_json_schema",
]

OTHERS = "others"
SCHEMA_NAME = "radgenome_sentence"

MAX_NODES = 24
"""Nodes one sentence may name (a list of ribs or vertebrae is the longest real case)."""
MAX_FINDINGS = 16
MAX_PHRASE_CHARS = 80
"""A finding phrase is short ("ground glass opacity"); a longer one is prose, not a phrase."""
MAX_ATTRIBUTES = 8
MAX_ATTRIBUTE_CHARS = 80
MAX_SIZE_CHARS = 40


class FindingAnswer(BaseModel):
    """One finding the sentence states."""

    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(
        ...,
        max_length=MAX_PHRASE_CHARS,
        description="Lower-case finding phrase, words taken from the sentence, without location words, "
        "e.g. 'nodule'.",
    )
    polarity: Literal["present", "absent", "uncertain"]
    size_text: str | None = Field(
        None, max_length=MAX_SIZE_CHARS, description="The size exactly as written in the sentence, or null."
    )
    attributes: list[Annotated[str, Field(max_length=MAX_ATTRIBUTE_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_ATTRIBUTES,
        description="Hedging, comparison and change words as written, e.g. 'regressed'.",
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

    nodes: list[str] = Field(..., min_length=1, max_length=MAX_NODES)
    findings: list[FindingAnswer] = Field(..., max_length=MAX_FINDINGS)


@cache
def allowed_nodes() -> tuple[str, ...]:
    """Every name the model may choose — every name the rules can emit: the hierarchy's nodes (sorted), the
    top-level regions that are not nodes themselves (``mediastinum``, ``trachea and bronchie``), then ``others``."""
    h = load_hierarchy()
    regions = tuple(r for r in TOP_LEVEL_REGIONS if r != OTHERS and r not in h.nodes)
    return (*sorted(h.nodes), *regions, OTHERS)


@cache
def answer_model() -> type[SentenceAnswerBase]:
    """The pydantic model of one sentence's answer, its ``nodes`` restricted to :func:`allowed_nodes`."""
    node_type = Literal[allowed_nodes()]  # type: ignore[valid-type]
    return create_model(
        "SentenceAnswer",
        __base__=SentenceAnswerBase,
        nodes=(
            list[node_type],  # type: ignore[valid-type]
            Field(
                ...,
                min_length=1,
                max_length=MAX_NODES,
                description="Finest anatomical nodes the sentence describes; ['others'] when none.",
            ),
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
    """Short hash of the schema (changes when the hierarchy's nodes or the answer limits change)."""
    return hashlib.sha256(_strict_schema_json().encode()).hexdigest()[:8]


def response_format(kind: str = "json_schema") -> dict[str, Any] | None:
    """The ``response_format`` of a chat completions request (None for prompt-only)."""
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


_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


def extract_json(content: str) -> Any:
    """The one JSON value of an answer: the text itself, else the body of its fenced block, else the one JSON
    object in the surrounding prose. ``<think>…</think>`` blocks are dropped first. Raises ``ValueError`` saying
    why there is none (or several)."""
    text = _THINK.sub("", content)
    if _THINK_OPEN.search(text):
        raise ValueError("the answer ends inside an unclosed <think> block")
    text = text.strip()
    if not text:
        raise ValueError("no text after the <think> block")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first_error = str(exc)
    fenced = [m.group(1).strip() for m in _FENCE.finditer(text)]
    if len(fenced) == 1:
        try:
            return json.loads(fenced[0])
        except json.JSONDecodeError as exc:
            raise ValueError(f"fenced block: {exc}") from None
    objects = _objects_in(text)
    if len(objects) == 1:
        return objects[0]
    if len(objects) > 1:
        raise ValueError(f"{len(objects)} JSON objects in the answer, expected one")
    if text.lstrip().startswith(("{", "[")):
        raise ValueError(first_error)  # JSON that is broken (cut off, ...), not prose around JSON
    raise ValueError(f"no JSON object in the answer ({first_error})")


def _objects_in(text: str) -> list[Any]:
    """The top-level JSON objects embedded in ``text``, in order."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = text.find("{", end)
    return found


def parse_answer(
    content: str | None, *, finish_reason: str | None = None, max_bytes: int | None = None
) -> SentenceAnswerBase:
    """Parse and validate one answer.

    Raises :class:`AnswerError` with the flag ``llm_invalid_json`` (no single JSON object),
    ``llm_schema_violation`` (JSON, but not the schema), ``llm_truncated`` (either of them on an answer the server
    stopped at the token limit, ``finish_reason == "length"``) or ``llm_answer_too_large`` (over ``max_bytes``).
    """
    try:
        return _parse(content, max_bytes)
    except AnswerError as exc:
        if finish_reason == "length" and exc.flag != FLAG_TOO_LARGE:
            why = "the server stopped the answer at the token limit (finish_reason: length)"
            raise AnswerError(FLAG_TRUNCATED, f"{why}: {exc.detail}") from None
        raise


def _parse(content: str | None, max_bytes: int | None) -> SentenceAnswerBase:
    if content is None or not content.strip():
        raise AnswerError(FLAG_INVALID_JSON, "empty answer")
    if max_bytes is not None:
        size = len(content.encode("utf-8"))
        if size > max_bytes:
            raise AnswerError(FLAG_TOO_LARGE, f"answer of {size:,} bytes, more than the {max_bytes:,} allowed")
    try:
        data = extract_json(content)
    except ValueError as exc:
        raise AnswerError(FLAG_INVALID_JSON, str(exc)[:200]) from None
    try:
        return answer_model().model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "literal_error":
            detail = f"{where}: {str(first.get('input'))[:80]!r} is not an allowed value"
        else:
            detail = f"{where}: {first.get('msg', '')}"
        raise AnswerError(FLAG_SCHEMA_VIOLATION, detail[:200]) from None

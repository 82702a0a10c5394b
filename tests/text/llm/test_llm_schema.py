"""The answer schema, its strict JSON form, answer parsing and the prompt file."""

from __future__ import annotations

from typing import Any

import pytest

from radgenome.anatomy import load_hierarchy
from radgenome.text.llm.prompts import PROMPT_VERSION, build_messages, load_prompt, user_message
from radgenome.text.llm.schema import (
    AnswerError,
    allowed_nodes,
    parse_answer,
    response_format,
    schema_fingerprint,
    strict_json_schema,
)


def _objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for v in node.values():
            found.extend(_objects(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(_objects(v))
    return found


def test_node_enum_is_the_hierarchy_plus_others() -> None:
    schema = strict_json_schema()
    enum = schema["properties"]["nodes"]["items"]["enum"]
    assert set(enum) == set(load_hierarchy().nodes) | {"others"}
    assert len(enum) == len(set(enum)) == len(allowed_nodes())


def test_schema_is_strict_everywhere() -> None:
    schema = strict_json_schema()
    objects = _objects(schema)
    assert len(objects) >= 2  # the answer and the finding
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert set(obj["required"]) == set(obj["properties"])
        assert all("default" not in prop for prop in obj["properties"].values())
    assert list(schema["properties"]) == ["nodes", "findings"]  # grounding is generated first


def test_response_format_kinds() -> None:
    rf = response_format("json_schema")
    assert rf is not None and rf["type"] == "json_schema"
    assert rf["json_schema"]["strict"] is True and rf["json_schema"]["schema"] == strict_json_schema()
    assert response_format("json_object") == {"type": "json_object"}
    assert response_format("none") is None


def test_parse_valid_answer_normalises_phrase() -> None:
    ans = parse_answer(
        '{"nodes": ["left lung upper lobe"], "findings": [{"phrase": "  Ground  Glass Opacity",'
        ' "polarity": "present", "size_text": null, "attributes": ["new"]}]}'
    )
    assert ans.nodes == ["left lung upper lobe"]
    assert ans.findings[0].phrase == "ground glass opacity"
    assert ans.findings[0].attributes == ["new"]


def test_parse_accepts_code_fences() -> None:
    ans = parse_answer('```json\n{"nodes": ["heart"], "findings": []}\n```')
    assert ans.nodes == ["heart"]


@pytest.mark.parametrize(
    ("content", "flag"),
    [
        ("", "llm_invalid_json"),
        (None, "llm_invalid_json"),
        ('{"nodes": ["heart"], "findings": [', "llm_invalid_json"),
        ("Sure! The answer is heart.", "llm_invalid_json"),
        ('{"nodes": ["left little toe"], "findings": []}', "llm_schema_violation"),
        ('{"nodes": [], "findings": []}', "llm_schema_violation"),
        ('{"nodes": ["heart"]}', "llm_schema_violation"),
        ('{"nodes": ["heart"], "findings": [], "comment": "x"}', "llm_schema_violation"),
        ('{"nodes": ["heart"], "findings": [{"phrase": "x", "polarity": "maybe"}]}', "llm_schema_violation"),
        ('{"nodes": ["heart"], "findings": [{"phrase": " ", "polarity": "absent"}]}', "llm_schema_violation"),
        ('["heart"]', "llm_schema_violation"),
    ],
)
def test_parse_rejects(content: str | None, flag: str) -> None:
    with pytest.raises(AnswerError) as info:
        parse_answer(content)
    assert info.value.flag == flag


def test_prompt_file_loads_with_valid_examples() -> None:
    p = load_prompt()
    assert p.version.startswith(f"{PROMPT_VERSION}-")
    assert p.version.endswith(load_prompt().version[-8:])
    assert "{nodes}" not in p.system and "left lung upper lobe" in p.system
    assert len(p.examples) >= 4
    for _user, assistant in p.examples:
        ans = parse_answer(assistant)  # every few-shot answer obeys the schema and the hierarchy
        assert ans.nodes
    assert len(schema_fingerprint()) == 8


def test_messages_end_with_the_sentence() -> None:
    msgs = build_messages("No  pleural\neffusion.")
    assert msgs[0]["role"] == "system"
    assert msgs[-1] == {"role": "user", "content": user_message("No pleural effusion.")}
    roles = [m["role"] for m in msgs[1:-1]]
    assert roles == ["user", "assistant"] * (len(roles) // 2)


def test_user_message_with_context() -> None:
    assert user_message("It is  stable.", "A cyst\nin the liver.") == (
        "Previous sentence: A cyst in the liver.\nSentence: It is stable."
    )
    assert user_message("It is stable.", "  ") == "Sentence: It is stable."

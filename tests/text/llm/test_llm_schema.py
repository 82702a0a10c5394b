"""The answer schema, its strict JSON form, answer parsing and the prompt file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.text.llm.prompts import PROMPT_VERSION, build_messages, load_prompt, user_message
from radgenome.text.llm.schema import (
    MAX_ATTRIBUTES,
    MAX_FINDINGS,
    MAX_NODES,
    MAX_PHRASE_CHARS,
    AnswerError,
    allowed_nodes,
    parse_answer,
    response_format,
    schema_fingerprint,
    strict_json_schema,
)
from radgenome.text.llm.support import unsupported_words


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


def test_node_enum_covers_every_name_the_rules_emit() -> None:
    schema = strict_json_schema()
    nodes = schema["properties"]["nodes"]
    enum = nodes["items"]["enum"]
    h = load_hierarchy()
    regions = set(TOP_LEVEL_REGIONS)
    assert set(enum) == set(h.nodes) | regions  # every node, every top-level region name ("others" included)
    assert {"mediastinum", "trachea and bronchie"} <= set(enum) - set(h.nodes)
    assert len(enum) == len(set(enum)) == len(allowed_nodes())
    assert nodes["minItems"] == 1 and nodes["maxItems"] == MAX_NODES  # the validator's bounds, sent as schema


def test_every_node_the_rules_emit_is_accepted(benchmarks_dir: Path) -> None:
    """The rules' groundings of real reports are answers the schema accepts (a model can agree with them)."""
    from radgenome.corpus.reports import read_reports
    from radgenome.text.engine import RulesBackend

    reports, _ = read_reports(benchmarks_dir / "ctrate" / "reports.csv")
    rules = RulesBackend()
    emitted = {n for r in reports[:300] for s in rules.analyze(r).sentences for n in s.nodes}
    assert {"mediastinum"} <= emitted
    assert emitted <= set(allowed_nodes())
    parse_answer(json.dumps({"nodes": sorted(emitted)[:MAX_NODES], "findings": []}))


def test_schema_and_validator_agree_on_the_limits() -> None:
    schema = strict_json_schema()
    finding = schema["$defs"]["FindingAnswer"]["properties"]
    assert schema["properties"]["findings"]["maxItems"] == MAX_FINDINGS
    assert finding["phrase"]["maxLength"] == MAX_PHRASE_CHARS
    assert finding["attributes"]["maxItems"] == MAX_ATTRIBUTES
    assert finding["attributes"]["items"]["maxLength"] > 0
    ok = {"phrase": "nodule", "polarity": "present", "size_text": None, "attributes": []}
    parse_answer(json.dumps({"nodes": ["lung"], "findings": [ok] * MAX_FINDINGS}))
    parse_answer(json.dumps({"nodes": ["lung"], "findings": [{**ok, "phrase": "n" * MAX_PHRASE_CHARS}]}))
    for bad in (
        {"nodes": ["lung"], "findings": [ok] * (MAX_FINDINGS + 1)},
        {"nodes": ["lung"], "findings": [{**ok, "phrase": "n" * (MAX_PHRASE_CHARS + 1)}]},
        {"nodes": ["lung"], "findings": [{**ok, "attributes": ["new"] * (MAX_ATTRIBUTES + 1)}]},
        {"nodes": ["lung"] * (MAX_NODES + 1), "findings": []},
    ):
        with pytest.raises(AnswerError) as info:
            parse_answer(json.dumps(bad))
        assert info.value.flag == "llm_schema_violation"


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


ANSWER = '{"nodes": ["heart"], "findings": []}'


@pytest.mark.parametrize(
    "content",
    [
        f"```json\n{ANSWER}\n```",
        f"```\n{ANSWER}```",
        f"<think>\nThe sentence is about the heart. Maybe {{\"nodes\": [\"lung\"]}}? No.\n</think>\n\n{ANSWER}",
        f"<think></think>{ANSWER}",
        f"<think>heart</think>\n```json\n{ANSWER}\n```",
        f"Here is the annotation:\n\n```json\n{ANSWER}\n```\nLet me know if you need more.",
        f"Sure! The JSON object is {ANSWER}. The sentence concerns the heart.",
        f"  {ANSWER}  \n",
    ],
)
def test_parse_strips_think_blocks_fences_and_prose(content: str) -> None:
    assert parse_answer(content).nodes == ["heart"]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (f"{ANSWER} or maybe {{\"nodes\": [\"lung\"], \"findings\": []}}", "2 JSON objects"),
        ("<think>The sentence talks about the heart, so", "unclosed <think>"),
        ("<think>hmm</think>", "no text after the <think> block"),
        ("The heart.", "no JSON object"),
    ],
)
def test_parse_rejects_ambiguous_or_missing_json(content: str, detail: str) -> None:
    with pytest.raises(AnswerError) as info:
        parse_answer(content)
    assert info.value.flag == "llm_invalid_json" and detail in info.value.detail


def test_finish_reason_length_is_reported_as_such() -> None:
    cut = '{"nodes": ["heart"], "findings": [{"phrase": "peric'
    with pytest.raises(AnswerError) as info:
        parse_answer(cut, finish_reason="length")
    assert info.value.flag == "llm_truncated" and "finish_reason: length" in info.value.detail
    with pytest.raises(AnswerError) as info:
        parse_answer("<think>" + "let me think " * 50, finish_reason="length")
    assert info.value.flag == "llm_truncated"
    with pytest.raises(AnswerError) as info:
        parse_answer(cut)  # the same answer without the server saying why: just broken JSON
    assert info.value.flag == "llm_invalid_json"
    assert parse_answer(ANSWER, finish_reason="length").nodes == ["heart"]  # complete after all: usable


def test_answer_byte_limit() -> None:
    big = json.dumps({"nodes": ["heart"], "findings": [], "x": "y" * 5000})
    with pytest.raises(AnswerError) as info:
        parse_answer(big, max_bytes=4096)
    assert info.value.flag == "llm_answer_too_large" and "4,096" in info.value.detail


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
    for user, assistant in p.examples:
        ans = parse_answer(assistant)  # every few-shot answer obeys the schema and the hierarchy
        assert ans.nodes
        for f in ans.findings:  # and teaches phrases made of the sentence's own words
            assert unsupported_words(f.phrase, user) == (), (user, f.phrase)
    assert "- mediastinum: " in p.system and "; mediastinum" in p.system  # the region name is offered too
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

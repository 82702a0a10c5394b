"""The on-disk answer cache."""

from __future__ import annotations

import threading
from pathlib import Path

from radgenome.text.llm.cache import AnswerCache, cache_key
from radgenome.text.llm.settings import LLMSettings


def test_roundtrip_and_key_parts(tmp_path: Path) -> None:
    c = AnswerCache(tmp_path)
    assert c.get("id", "text") is None
    c.put("id", "text", '{"a": 1}')
    assert c.get("id", "text") == '{"a": 1}'
    assert c.get("id2", "text") is None
    assert c.get("id", "text.") is None
    assert len(c) == 1
    keys = {cache_key("id", "t"), cache_key("idt", ""), cache_key("", "idt")}
    assert len(keys) == 3  # no ambiguity from concatenation


def _settings(**kw: object) -> LLMSettings:
    return LLMSettings.model_validate({"base_url": "http://a:8000/v1", "model": "m", **kw})


def test_every_setting_that_changes_answers_is_in_the_identity() -> None:
    base = _settings().answer_identity("v1-x")
    assert _settings(base_url="http://a:8000/v1/").answer_identity("v1-x") == base  # same server
    for changed in (
        _settings(base_url="http://b:8000/v1").answer_identity("v1-x"),  # same model name, another server
        _settings(model="m2").answer_identity("v1-x"),
        _settings().answer_identity("v1-y"),
        _settings(structured_output="json_object").answer_identity("v1-x"),
        _settings(temperature=0.7).answer_identity("v1-x"),
        _settings(max_tokens=2048).answer_identity("v1-x"),
    ):
        assert changed != base
    # settings that do not change an answer do not change the identity
    assert _settings(concurrency=32, timeout_s=5, max_retries=0).answer_identity("v1-x") == base


def test_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    c = AnswerCache(tmp_path)
    c.put("id", "t", "x")
    key = cache_key("id", "t")
    (tmp_path / key[:2] / f"{key}.json").write_text("{not json", "utf-8")
    assert c.get("id", "t") is None
    c.put("id", "t", "y")
    assert c.get("id", "t") == "y"


def test_concurrent_writers(tmp_path: Path) -> None:
    c = AnswerCache(tmp_path)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                c.put("id", f"shared {i % 5}", f"answer {i % 5}")
                c.put("id", f"own {worker} {i}", f"answer {worker} {i}")
                got = c.get("id", f"shared {i % 5}")
                assert got in (None, f"answer {i % 5}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(c) == 5 + 12 * 40
    assert not list(tmp_path.rglob("*.tmp"))  # no temp files left behind
    assert c.get("id", "own 3 17") == "answer 3 17"

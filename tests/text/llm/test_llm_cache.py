"""The on-disk answer cache."""

from __future__ import annotations

import threading
from pathlib import Path

from radgenome.text.llm.cache import AnswerCache, cache_key


def test_roundtrip_and_key_parts(tmp_path: Path) -> None:
    c = AnswerCache(tmp_path)
    assert c.get("m", "v1", "text") is None
    c.put("m", "v1", "text", '{"a": 1}')
    assert c.get("m", "v1", "text") == '{"a": 1}'
    assert c.get("m2", "v1", "text") is None
    assert c.get("m", "v2", "text") is None
    assert c.get("m", "v1", "text.") is None
    assert len(c) == 1
    keys = {cache_key("m", "v1", "t"), cache_key("m", "v1t", ""), cache_key("mv1", "", "t")}
    assert len(keys) == 3  # no ambiguity from concatenation


def test_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    c = AnswerCache(tmp_path)
    c.put("m", "v", "t", "x")
    key = cache_key("m", "v", "t")
    (tmp_path / key[:2] / f"{key}.json").write_text("{not json", "utf-8")
    assert c.get("m", "v", "t") is None
    c.put("m", "v", "t", "y")
    assert c.get("m", "v", "t") == "y"


def test_concurrent_writers(tmp_path: Path) -> None:
    c = AnswerCache(tmp_path)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                c.put("m", "v", f"shared {i % 5}", f"answer {i % 5}")
                c.put("m", "v", f"own {worker} {i}", f"answer {worker} {i}")
                got = c.get("m", "v", f"shared {i % 5}")
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
    assert c.get("m", "v", "own 3 17") == "answer 3 17"

"""On-disk answer cache: one JSON file per key, written atomically (temp file + ``os.replace``).

The key is the sha256 of (answer identity, input text). The identity
(:meth:`~radgenome.text.llm.settings.LLMSettings.answer_identity`) holds everything that changes an answer:
the server's base URL, the model, the prompt and schema version, the structured-output mode, temperature and
max_tokens — the same model name on another server, or another sampling setting, never reuses an answer.
Files are ``cache_dir/<2 hex>/<key>.json`` and repeat the identity and text, which are checked on reading.
Concurrent threads or processes writing the same key are safe: each writes its own temp file and the rename is
atomic, so a reader sees either no file or a complete one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from radgenome.atomic import atomic_write_text

__all__ = ["AnswerCache", "cache_key"]


def cache_key(identity: str, text: str) -> str:
    payload = json.dumps([identity, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class AnswerCache:
    """Maps (answer identity, text) to the raw answer content the model gave."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, identity: str, text: str) -> str | None:
        path = self._path(cache_key(identity, text))
        try:
            entry = json.loads(path.read_text("utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError):
            return None  # unreadable or corrupt entry: treat as a miss, it is rewritten on the next answer
        if not isinstance(entry, dict) or entry.get("identity") != identity or entry.get("text") != text:
            return None  # a hash collision or a foreign file
        content = entry.get("content")
        return content if isinstance(content, str) else None

    def put(self, identity: str, text: str, content: str) -> None:
        path = self._path(cache_key(identity, text))
        entry = {"identity": identity, "text": text, "content": content}
        atomic_write_text(path, json.dumps(entry, ensure_ascii=False))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("??/*.json")) if self.root.exists() else 0

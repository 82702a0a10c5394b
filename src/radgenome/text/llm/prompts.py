"""The prompt (a data file, ``data/prompt_v1.md``) and the chat messages built from it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from radgenome.anatomy import TOP_LEVEL_REGIONS, load_hierarchy
from radgenome.text.llm.schema import OTHERS, parse_answer, schema_fingerprint

__all__ = ["PROMPT_FILE", "PROMPT_VERSION", "Prompt", "build_messages", "load_prompt", "messages_for", "user_message"]

PROMPT_VERSION = "v1"
PROMPT_FILE = f"prompt_{PROMPT_VERSION}.md"

_HEADER = re.compile(r"^## (system|example user|example assistant)\s*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    examples: tuple[tuple[str, str], ...]
    """(user, assistant) few-shot turns."""
    version: str
    """``v1-<hash>``: the prompt version plus a fingerprint of the prompt text and the answer schema."""


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """``rib 2`` before ``rib 10``."""
    return tuple((0, int(tok)) if tok.isdigit() else (1, tok) for tok in re.split(r"(\d+)", name))


def _node_list() -> str:
    h = load_hierarchy()
    lines = []
    for region in TOP_LEVEL_REGIONS:
        nodes: set[str] = set()
        for root in h.regions.get(region, ()):
            nodes.add(root)
            nodes.update(h.descendants(root))
        if region == OTHERS or region not in h.nodes:
            nodes.add(region)  # "others", and the regions that are no node ("mediastinum"): the whole region
        lines.append(f"- {region}: " + "; ".join(sorted(nodes, key=_natural_key)))
    return "\n".join(lines)


def _parse(text: str) -> tuple[str, list[tuple[str, str]]]:
    text = _COMMENT.sub("", text)
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    system = ""
    examples: list[tuple[str, str]] = []
    pending_user: str | None = None
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.strip()
        if name == "system":
            system = body
        elif name == "example user":
            if pending_user is not None:
                raise ValueError("prompt file: two 'example user' sections in a row")
            pending_user = body
        else:
            if pending_user is None:
                raise ValueError("prompt file: 'example assistant' without a preceding 'example user'")
            parse_answer(body)  # the few-shot answers must themselves be valid
            examples.append((pending_user, json.dumps(json.loads(body), ensure_ascii=False)))
            pending_user = None
    if not system:
        raise ValueError("prompt file: no '## system' section")
    if pending_user is not None:
        raise ValueError("prompt file: 'example user' without an answer")
    return system, examples


@cache
def load_prompt() -> Prompt:
    """The packaged prompt, with the allowed node list filled in."""
    raw = resources.files("radgenome.text.llm").joinpath(f"data/{PROMPT_FILE}").read_text("utf-8")
    system, examples = _parse(raw)
    system = system.replace("{nodes}", _node_list())
    digest = hashlib.sha256(raw.encode() + schema_fingerprint().encode()).hexdigest()[:8]
    return Prompt(system=system, examples=tuple(examples), version=f"{PROMPT_VERSION}-{digest}")


def user_message(sentence: str, context: str | None = None) -> str:
    """The user turn for one sentence (whitespace-normalised), optionally preceded by the previous sentence."""
    text = "Sentence: " + " ".join(sentence.split())
    if context and context.strip():
        return "Previous sentence: " + " ".join(context.split()) + "\n" + text
    return text


def messages_for(user: str, prompt: Prompt | None = None) -> list[dict[str, str]]:
    """System prompt, few-shot turns, then the given user turn (see :func:`user_message`)."""
    p = prompt or load_prompt()
    messages = [{"role": "system", "content": p.system}]
    for example_user, example_assistant in p.examples:
        messages.append({"role": "user", "content": example_user})
        messages.append({"role": "assistant", "content": example_assistant})
    messages.append({"role": "user", "content": user})
    return messages


def build_messages(sentence: str, prompt: Prompt | None = None, context: str | None = None) -> list[dict[str, str]]:
    """The messages asking about one sentence."""
    return messages_for(user_message(sentence, context), prompt)

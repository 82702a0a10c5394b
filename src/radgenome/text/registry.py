"""Text-backend registry: ``get_text_backend(name, **options)``; backends are imported only when asked for."""

from __future__ import annotations

from typing import Any

from radgenome.text.base import TextBackend, TextBackendError

TEXT_BACKENDS: tuple[str, ...] = ("rules", "llm", "hybrid")
"""``rules``: the deterministic offline engine (default). ``llm``: an OpenAI-compatible model grounds every
findings/impressions sentence; ``hybrid``: only the sentences the rules ground with low confidence."""


def get_text_backend(name: str = "rules", **options: Any) -> TextBackend:
    """Build a text backend.

    ``rules`` takes no options. ``llm``/``hybrid`` take the fields of
    :class:`radgenome.text.llm.settings.LLMSettings` (``base_url``, ``model``, ``concurrency``, ``timeout_s``,
    ``deadline_s``, ``max_retries``, ``cache_dir``, ``confidence_threshold``, ``structured_output``, ...) or a
    ready ``settings=LLMSettings(...)``. Raises :class:`TextBackendError` for an unknown name or unusable settings.
    """
    opts = {k: v for k, v in options.items() if v is not None}
    if name == "rules":
        if opts:
            raise TextBackendError(f"the rules backend takes no options (got {', '.join(sorted(opts))})")
        from radgenome.text.engine import RulesBackend

        return RulesBackend()
    if name in ("llm", "hybrid"):
        return _llm_backend(name, opts)
    raise TextBackendError(f"unknown text backend {name!r} (choose from {', '.join(TEXT_BACKENDS)})")


def _llm_backend(mode: str, opts: dict[str, Any]) -> TextBackend:
    from pydantic import ValidationError

    from radgenome.text.llm.backend import LLMBackend
    from radgenome.text.llm.settings import LLMSettings

    settings = opts.pop("settings", None)
    if settings is None:
        if not opts.get("model") or not opts.get("base_url"):
            raise TextBackendError(f"the {mode} backend needs the model server's base_url and a model name")
        try:
            settings = LLMSettings(mode=mode, **opts)
        except ValidationError as exc:
            raise TextBackendError(f"invalid {mode} backend settings: {exc}") from exc
    elif opts:
        raise TextBackendError("give the LLM settings either as settings=LLMSettings(...) or as options, not both")
    elif settings.mode != mode:
        raise TextBackendError(f"settings are for the {settings.mode} backend, not {mode}")
    return LLMBackend(settings)

"""Backend registry: ``get_segmenter(name, **options)``; backends are imported only when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radgenome.segmentation.base import BackendUnavailableError, Segmenter

BACKENDS: tuple[str, ...] = ("classical", "totalsegmentator", "sat", "precomputed")


def get_segmenter(name: str, **options: Any) -> Segmenter:
    """Build a backend. Raises ``ValueError`` for an unknown name, ``BackendUnavailableError`` when its
    software, weights or inputs are missing (the message says what is expected where)."""
    opts = {k: v for k, v in options.items() if v is not None}
    if name == "classical":
        try:
            from radgenome.segmentation.classical import ClassicalSegmenter
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("radgenome"):
                raise BackendUnavailableError(
                    "classical backend: radgenome.segmentation.classical is missing"
                ) from exc
            raise
        return ClassicalSegmenter(**opts)
    if name == "totalsegmentator":
        from radgenome.segmentation.totalseg import TotalSegmentatorSegmenter

        return TotalSegmentatorSegmenter(**_pick(opts, "task", "fast", "device"))
    if name == "sat":
        from radgenome.segmentation.sat import SATSegmenter

        missing = [k for k in SAT_REQUIRED if k not in opts]
        if missing:
            raise BackendUnavailableError(
                f"sat backend needs {', '.join(missing)} (paths to a SAT checkout and checkpoints)"
            )
        return SATSegmenter(**_pick(opts, *SAT_OPTIONS))
    if name == "precomputed":
        from radgenome.segmentation.precomputed import PrecomputedSegmenter

        if "source_dir" not in opts:
            raise BackendUnavailableError("precomputed backend needs source_dir (the folder of precomputed masks)")
        return PrecomputedSegmenter(
            source_dir=Path(opts["source_dir"]), **_pick(opts, "label_table", "name_map", "confidence")
        )
    raise ValueError(f"unknown segmentation backend {name!r} (choose from {', '.join(BACKENDS)})")


SAT_REQUIRED = ("sat_dir", "checkpoint", "text_encoder_checkpoint")
"""Options the sat backend cannot run without."""
SAT_OPTIONS = (
    "sat_dir",
    "checkpoint",
    "text_encoder_checkpoint",
    "vision_backbone",
    "text_encoder",
    "prompts",
    "max_queries",
    "batchsize_3d",
    "master_port",
    "launcher",
    "work_dir",
    "timeout_s",
)


def _pick(opts: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: opts[k] for k in keys if k in opts}

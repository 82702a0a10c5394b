"""The segmenter interface shared by every backend.

A backend receives a :class:`~radgenome.model.CTVolume` — HU intensities in canonical RAS orientation (array
axis 0 grows towards the patient's Right, axis 1 towards Anterior, axis 2 towards Superior) with its RAS
affine — and returns a :class:`~radgenome.model.Segmentation` on that same canonical grid. Writing back onto
the input's own grid and affine is the caller's job (``radgenome.segmentation.io``), so no backend ever has to think
about orientation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from radgenome.model import CTVolume, Segmentation


class SegmentationError(RuntimeError):
    """A backend could not segment a case (the message names the case and the problem)."""


class BackendUnavailableError(RuntimeError):
    """A backend's software or weights are not installed (the message says what is expected where)."""


@runtime_checkable
class Segmenter(Protocol):
    """A segmentation backend."""

    name: str

    @property
    def version(self) -> str: ...

    def settings(self) -> dict[str, Any]:
        """The settings that shaped the output (recorded as provenance)."""
        ...

    def segment(self, volume: CTVolume) -> Segmentation:
        """Segment one volume. Raises :class:`SegmentationError` or :class:`BackendUnavailableError`."""
        ...


OUTSIDE_FOV = "outside the field of view"
"""Marker of the warnings that say a region lies outside the scan (see :func:`outside_fov_warning`)."""


def outside_fov_warning(node: str, reason: str) -> str:
    """The warning a backend gives when ``node`` (a hierarchy node, top-level region or mask name) lies outside
    the scan's field of view: ``"<node>: outside the field of view (<reason>)"``. Linking reads these back
    (:func:`outside_fov_nodes`) and gives every node whose structures all lie in such a region the status
    ``outside_fov`` instead of a mask."""
    return f"{node}: {OUTSIDE_FOV} ({reason})"


def outside_fov_nodes(warnings: Iterable[str]) -> list[str]:
    """The nodes named by :func:`outside_fov_warning` warnings, in order."""
    out: list[str] = []
    for w in warnings:
        head, sep, rest = str(w).partition(": ")
        if sep and rest.startswith(OUTSIDE_FOV) and head.strip() and head.strip() not in out:
            out.append(head.strip())
    return out

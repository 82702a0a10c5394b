"""The segmenter interface shared by every backend.

A backend receives a :class:`~radgenome.model.CTVolume` — HU intensities in canonical RAS orientation (array
axis 0 grows towards the patient's Right, axis 1 towards Anterior, axis 2 towards Superior) with its RAS
affine — and returns a :class:`~radgenome.model.Segmentation` on that same canonical grid. Writing back onto
the input's own grid and affine is the caller's job (``radgenome.segmentation.io``), so no backend ever has to think
about orientation.
"""

from __future__ import annotations

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

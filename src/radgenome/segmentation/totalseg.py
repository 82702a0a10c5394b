"""Backend ``totalsegmentator``: TotalSegmentator's Python API, its classes mapped to RadGenome's names.

Needs the optional extra ``pip install radgenome[totalseg]`` and its model weights, which TotalSegmentator
keeps under ``$TOTALSEG_WEIGHTS_PATH`` or ``$TOTALSEG_HOME_DIR/nnunet/results`` (default
``~/.totalsegmentator/nnunet/results``), one ``Dataset<task id>_*`` folder per model. TotalSegmentator would
download missing weights on first use; radgenome refuses to start it without them (clusters often have no
network), and turns its usage statistics off. Output import (multilabel file + table, or one file per class)
lives in :mod:`radgenome.segmentation.precomputed` so it works without TotalSegmentator installed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radgenome.model import CTVolume, Segmentation
from radgenome.segmentation.base import BackendUnavailableError, SegmentationError
from radgenome.segmentation.precomputed import (
    Imported,
    build_segmentation,
    import_labelmap,
    import_mask_folder,
    map_names,
    totalseg_total_classes,
)

TASK_MODELS: dict[tuple[str, bool], tuple[int, ...]] = {
    ("total", False): (291, 292, 293, 294, 295),
    ("total", True): (297,),
    ("total_mr", False): (730, 731),
    ("total_mr", True): (732,),
    ("lung_vessels", False): (258,),
    ("body", False): (299,),
    ("body", True): (300,),
    ("pleural_pericard_effusion", False): (315,),
}
"""(task, fast) -> nnU-Net dataset ids TotalSegmentator loads (from its python_api)."""


def weights_dir() -> Path:
    """Where TotalSegmentator looks for its weights."""
    explicit = os.environ.get("TOTALSEG_WEIGHTS_PATH")
    if explicit:
        return Path(explicit)
    home = Path(os.environ.get("TOTALSEG_HOME_DIR", str(Path.home() / ".totalsegmentator")))
    return home / "nnunet" / "results"


def missing_weights(task: str, fast: bool) -> list[int]:
    """Dataset ids of ``task`` whose weights folder is missing under :func:`weights_dir`."""
    ids = TASK_MODELS.get((task, fast))
    if ids is None:
        return []  # unknown task: let TotalSegmentator decide
    root = weights_dir()
    return [i for i in ids if not (root.is_dir() and any(root.glob(f"Dataset{i:03d}_*")))]


def import_totalseg_output(
    path: str | Path, volume: CTVolume, table: dict[int, str] | None = None
) -> Imported:
    """TotalSegmentator output -> label map on the volume's canonical grid with RadGenome names.

    ``path``: a multilabel NIfTI (``--ml``; ``table`` defaults to the v2 ``total`` classes) or a folder with
    one ``<class>.nii.gz`` per class. Unmapped classes are dropped with a warning.
    """
    path = Path(path)
    if path.is_dir():
        return import_mask_folder(path, volume, name_map="totalseg")
    return import_labelmap(path, table or totalseg_total_classes(), volume, name_map="totalseg")


@dataclass
class TotalSegmentatorSegmenter:
    task: str = "total"
    fast: bool = False
    device: str = "cpu"
    name: str = "totalsegmentator"

    def __post_init__(self) -> None:
        self._check_available()

    def _check_available(self) -> None:
        try:
            import totalsegmentator  # noqa: F401
            from totalsegmentator.python_api import totalsegmentator as _api  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError(
                "totalsegmentator backend: the TotalSegmentator package is not installed "
                "(pip install 'radgenome[totalseg]')"
            ) from exc
        missing = missing_weights(self.task, self.fast)
        if missing:
            raise BackendUnavailableError(
                f"totalsegmentator backend: weights for task {self.task!r}"
                f"{' (fast)' if self.fast else ''} not "
                f"found: expected folders Dataset{missing[0]:03d}_* ... under {weights_dir()} "
                "(set TOTALSEG_HOME_DIR or TOTALSEG_WEIGHTS_PATH, or run totalseg_download_weights "
                f"-t {self.task} where a network is available)"
            )

    @property
    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("TotalSegmentator")
        except PackageNotFoundError:
            return "unknown"

    def settings(self) -> dict[str, Any]:
        return {"task": self.task, "fast": self.fast, "device": self.device}

    def segment(self, volume: CTVolume) -> Segmentation:
        import nibabel as nib
        from totalsegmentator.config import set_config_key
        from totalsegmentator.map_to_binary import class_map
        from totalsegmentator.python_api import totalsegmentator

        with contextlib.suppress(Exception):  # a read-only config keeps the user's own setting
            set_config_key("send_usage_stats", False)
        img = nib.Nifti1Image(np.asarray(volume.hu, dtype=np.float32), volume.affine)
        try:
            out = totalsegmentator(
                img,
                None,
                ml=True,
                fast=self.fast,
                task=self.task,
                device=self.device,
                statistics=False,
                radiomics=False,
                preview=False,
                quiet=True,
            )
        except SystemExit as exc:  # TotalSegmentator exits on licence problems
            raise SegmentationError(f"{volume.case_id}: TotalSegmentator stopped ({exc})") from exc
        table = {int(k): str(v) for k, v in class_map[self.task].items()}
        labelmap = np.asarray(out.dataobj).astype(np.int32)
        mapped, warnings = map_names(table, "totalseg")
        present = {int(v) for v in np.unique(labelmap)} - {0}
        lut = np.zeros(max(present | {0}) + 1, dtype=bool)
        for i in mapped:
            if i < len(lut):
                lut[i] = True
        labelmap = np.where(lut[labelmap], labelmap, 0)
        if labelmap.shape != volume.shape:
            raise SegmentationError(f"{volume.case_id}: TotalSegmentator returned shape {labelmap.shape}")
        imported = Imported(labelmap, {i: n for i, n in mapped.items() if i in present}, warnings)
        return build_segmentation(
            imported,
            method=f"totalsegmentator:{self.task}{':fast' if self.fast else ''}",
            confidence=0.9,
            backend=self.name,
            version=self.version,
            settings=self.settings(),
        )

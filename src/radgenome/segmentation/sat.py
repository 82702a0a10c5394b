"""Backend ``sat``: run a local checkout of SAT (github.com/zhaoziheng/SAT), the model RadGenome used.

SAT's documented inference (its README): a jsonl with one line per image — ``image`` (path), ``label`` (list
of text prompts), ``modality`` (``ct``), ``dataset`` (name; outputs are grouped by it) and optionally
``orientation_code`` — and the command::

    torchrun --nproc_per_node=1 --master_port 1234 inference.py --rcd_dir OUT --datasets_jsonl IN.jsonl \
        --vision_backbone UNET-L --checkpoint SAT_PRO.pth --text_encoder ours \
        --text_encoder_checkpoint TEXT_ENCODER.pth --max_queries 256 --batchsize_3d 1

SAT reorients to RAS, resamples to 1x1x3 mm, crops to the foreground (voxels > 0) and writes
``OUT/<dataset>/seg_<image stem>/<label>.nii.gz`` with an identity affine on that preprocessed grid. To know
that grid exactly, radgenome hands SAT an image that is already RAS, 1x1x3 mm and cropped to its voxels > 0,
so SAT's own preprocessing leaves it unchanged; the masks are then placed with that grid's affine and
resampled (nearest) onto the input volume.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radgenome.anatomy import load_hierarchy, mask_names
from radgenome.model import CTVolume, Segmentation
from radgenome.segmentation.base import BackendUnavailableError, SegmentationError
from radgenome.segmentation.precomputed import build_segmentation, import_mask_folder
from radgenome.segmentation.satspace import Grid, sat_input_grid

DATASET_NAME = "radgenome"


def default_prompts() -> list[str]:
    """RadGenome mask names without children in the hierarchy (finest, non-overlapping structures)."""
    h = load_hierarchy()
    return [n for n in mask_names() if not h.children.get(n)]


def jsonl_line(image: Path, prompts: list[str], dataset: str = DATASET_NAME) -> dict[str, Any]:
    return {
        "image": str(image),
        "label": list(prompts),
        "modality": "ct",
        "dataset": dataset,
        "orientation_code": "RAS",
    }


def sample_id(image: Path) -> str:
    """SAT's own naming: the image file name without ``.nii.gz``."""
    return image.name.replace(".nii.gz", "")


@dataclass
class SATSegmenter:
    sat_dir: Path
    checkpoint: Path
    text_encoder_checkpoint: Path
    vision_backbone: str = "UNET-L"
    text_encoder: str = "ours"
    prompts: list[str] = field(default_factory=default_prompts)
    max_queries: int = 256
    batchsize_3d: int = 1
    master_port: int = 1234
    launcher: str = "torchrun"
    work_dir: Path | None = None
    timeout_s: float | None = None
    name: str = "sat"

    def __post_init__(self) -> None:
        self.sat_dir = Path(self.sat_dir).expanduser()
        self.checkpoint = Path(self.checkpoint).expanduser()
        self.text_encoder_checkpoint = Path(self.text_encoder_checkpoint).expanduser()
        problems = []
        if not (self.sat_dir / "inference.py").is_file():
            problems.append(f"no SAT checkout at {self.sat_dir} (expected {self.sat_dir / 'inference.py'})")
        if not self.checkpoint.is_file():
            problems.append(f"SAT checkpoint not found at {self.checkpoint}")
        if not self.text_encoder_checkpoint.is_file():
            problems.append(f"text encoder checkpoint not found at {self.text_encoder_checkpoint}")
        if shutil.which(self.launcher) is None:
            problems.append(f"{self.launcher!r} not on PATH (install PyTorch in SAT's environment)")
        if problems:
            raise BackendUnavailableError(
                "sat backend unavailable: "
                + "; ".join(problems)
                + " — get SAT from https://github.com/zhaoziheng/SAT and its checkpoints from "
                "https://huggingface.co/zzh99/SAT, then give their paths as sat_dir, checkpoint and "
                "text_encoder_checkpoint"
            )

    @property
    def version(self) -> str:
        return f"SAT:{self.vision_backbone}:{self.checkpoint.name}"

    def settings(self) -> dict[str, Any]:
        return {
            "sat_dir": str(self.sat_dir),
            "checkpoint": str(self.checkpoint),
            "text_encoder": self.text_encoder,
            "text_encoder_checkpoint": str(self.text_encoder_checkpoint),
            "vision_backbone": self.vision_backbone,
            "prompts": len(self.prompts),
        }

    def command(self, jsonl: Path, rcd_dir: Path) -> list[str]:
        """SAT's documented inference command line."""
        return [
            self.launcher,
            "--nproc_per_node=1",
            "--master_port",
            str(self.master_port),
            "inference.py",
            "--rcd_dir",
            str(rcd_dir),
            "--datasets_jsonl",
            str(jsonl),
            "--vision_backbone",
            self.vision_backbone,
            "--checkpoint",
            str(self.checkpoint),
            "--text_encoder",
            self.text_encoder,
            "--text_encoder_checkpoint",
            str(self.text_encoder_checkpoint),
            "--max_queries",
            str(self.max_queries),
            "--batchsize_3d",
            str(self.batchsize_3d),
        ]

    def prepare(self, volume: CTVolume, work: Path) -> tuple[Path, Path, Grid]:
        """Write SAT's input image and jsonl into ``work``; returns (jsonl, rcd_dir, input grid)."""
        from radgenome.segmentation.io import write_nifti

        grid, hu = sat_input_grid(volume)
        image = write_nifti(hu, grid.affine, work / "images" / f"{volume.case_id}.nii.gz")
        jsonl = work / "sat_input.jsonl"
        jsonl.write_text(json.dumps(jsonl_line(image, self.prompts)) + "\n", encoding="utf-8")
        return jsonl, work / "results", grid

    def output_folder(self, rcd_dir: Path, volume: CTVolume) -> Path:
        return rcd_dir / DATASET_NAME / f"seg_{volume.case_id}"

    def import_output(self, rcd_dir: Path, volume: CTVolume, grid: Grid) -> Segmentation:
        folder = self.output_folder(rcd_dir, volume)
        if not folder.is_dir():
            raise SegmentationError(f"{volume.case_id}: SAT wrote no output folder {folder}")
        import nibabel as nib

        first = next(iter(sorted(folder.glob("*.nii.gz"))), None)
        if first is None:
            raise SegmentationError(f"{volume.case_id}: SAT output folder {folder} is empty")
        shape = tuple(nib.load(first).shape[:3])
        if shape != grid.shape:
            raise SegmentationError(
                f"{volume.case_id}: SAT output grid {shape} differs from the input grid {grid.shape}; "
                "SAT's preprocessing changed the image, so its masks cannot be placed"
            )
        imported = import_mask_folder(folder, volume, name_map="auto", grid_affine=grid.affine)
        return build_segmentation(
            imported,
            method=f"sat:{self.vision_backbone}",
            confidence=0.85,
            backend=self.name,
            version=self.version,
            settings=self.settings(),
        )

    def segment(self, volume: CTVolume) -> Segmentation:
        tmp = None
        if self.work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix=f"radgenome-sat-{volume.case_id}-")
            work = Path(tmp.name)
        else:
            work = Path(self.work_dir) / volume.case_id
            work.mkdir(parents=True, exist_ok=True)
        try:
            jsonl, rcd_dir, grid = self.prepare(volume, work)
            cmd = self.command(jsonl, rcd_dir)
            proc = subprocess.run(
                cmd, cwd=self.sat_dir, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
                raise SegmentationError(
                    f"{volume.case_id}: SAT exited with status {proc.returncode}: {' | '.join(tail)}"
                )
            return self.import_output(rcd_dir, volume, grid)
        finally:
            if tmp is not None:
                tmp.cleanup()

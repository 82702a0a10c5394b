"""Where things are in an output folder: the one place the names of ``OUT/``'s files and folders are spelled.

A build (ARCHITECTURE §1.4)::

    OUT/radgenome_files/{split}_{table}.csv         RadGenome-compatible tables (§1.3)
    OUT/masks/<stem>.nii.gz + <stem>.json           label map + sidecar (§1.2)
    OUT/dataset/grounded_sentences.parquet          one row per grounded sentence
    OUT/dataset/qa_pairs.parquet                    one row per QA pair
    OUT/cases/<stem>.json                           the per-case record
    OUT/report.html, manifest.sqlite, build.log, summary.json
    OUT/seg_<stem>/<name>.nii.gz                    optional RadGenome (SAT-space) mask layout
    OUT/.radgenome.lock                             the output lock of a running build (pid, host, start)

Paths stored in records and tables are relative to OUT (:meth:`OutputLayout.ref`: ``masks/<stem>.nii.gz``, and the
CT as ``../corpus/dataset/.../<stem>.nii.gz``), so a build reads the same from any working folder and survives being
moved together with its corpus; :meth:`OutputLayout.resolve` turns them back into paths.

``radgenome text`` writes ``OUT/radgenome_files/`` and ``OUT/sentences.parquet`` (+ ``text_run.json``); with an
LLM text backend, ``text`` and ``build`` also keep ``OUT/llm_log.jsonl`` (one JSON line per question asked);
``radgenome segment`` writes ``DIR/<stem>.nii.gz`` + ``DIR/<stem>.json`` (:meth:`OutputLayout.labelmap_name`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class OutputLayout:
    """The paths of an output folder ``root``."""

    root: Path

    CASES: ClassVar[str] = "cases"
    MASKS: ClassVar[str] = "masks"
    TABLES: ClassVar[str] = "radgenome_files"
    DATASET: ClassVar[str] = "dataset"
    GROUNDED_SENTENCES: ClassVar[str] = "dataset/grounded_sentences.parquet"
    QA_PAIRS: ClassVar[str] = "dataset/qa_pairs.parquet"
    SENTENCES: ClassVar[str] = "sentences.parquet"
    TEXT_RUN: ClassVar[str] = "text_run.json"
    LLM_LOG: ClassVar[str] = "llm_log.jsonl"
    SUMMARY: ClassVar[str] = "summary.json"
    MANIFEST: ClassVar[str] = "manifest.sqlite"
    REPORT: ClassVar[str] = "report.html"
    BUILD_LOG: ClassVar[str] = "build.log"
    LOCK: ClassVar[str] = ".radgenome.lock"
    SEG_PREFIX: ClassVar[str] = "seg_"
    LABELMAP_SUFFIX: ClassVar[str] = ".nii.gz"
    SIDECAR_SUFFIX: ClassVar[str] = ".json"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # ------------------------------------------------------------------------------------------ file names
    @classmethod
    def labelmap_name(cls, stem: str) -> str:
        """``<stem>.nii.gz``: a label map, in ``OUT/masks/`` or a ``radgenome segment`` folder."""
        return f"{stem}{cls.LABELMAP_SUFFIX}"

    @classmethod
    def sidecar_name(cls, stem: str) -> str:
        """``<stem>.json``: the sidecar beside a label map."""
        return f"{stem}{cls.SIDECAR_SUFFIX}"

    @staticmethod
    def table_name(split: str, table: str) -> str:
        """``{split}_{table}.csv`` (``train_region_report.csv``)."""
        return f"{split}_{table}.csv"

    @classmethod
    def seg_dir_name(cls, stem: str) -> str:
        return f"{cls.SEG_PREFIX}{stem}"

    # --------------------------------------------------------------------------------- relative references
    @classmethod
    def labelmap_ref(cls, stem: str) -> str:
        """The label map as a record names it, relative to OUT (``masks/<stem>.nii.gz``)."""
        return f"{cls.MASKS}/{cls.labelmap_name(stem)}"

    @classmethod
    def sidecar_ref(cls, stem: str) -> str:
        return f"{cls.MASKS}/{cls.sidecar_name(stem)}"

    # --------------------------------------------------------------------------------------------- paths
    @property
    def cases_dir(self) -> Path:
        return self.root / self.CASES

    @property
    def masks_dir(self) -> Path:
        return self.root / self.MASKS

    @property
    def tables_dir(self) -> Path:
        return self.root / self.TABLES

    @property
    def dataset_dir(self) -> Path:
        return self.root / self.DATASET

    def case_record(self, stem: str) -> Path:
        return self.cases_dir / f"{stem}.json"

    def labelmap(self, stem: str) -> Path:
        return self.masks_dir / self.labelmap_name(stem)

    def sidecar(self, stem: str) -> Path:
        return self.masks_dir / self.sidecar_name(stem)

    def table(self, split: str, table: str) -> Path:
        return self.tables_dir / self.table_name(split, table)

    def seg_dir(self, stem: str) -> Path:
        return self.root / self.seg_dir_name(stem)

    @property
    def grounded_sentences(self) -> Path:
        return self.root / self.GROUNDED_SENTENCES

    @property
    def qa_pairs(self) -> Path:
        return self.root / self.QA_PAIRS

    @property
    def sentences(self) -> Path:
        """``radgenome text``'s one row per sentence."""
        return self.root / self.SENTENCES

    @property
    def text_run(self) -> Path:
        return self.root / self.TEXT_RUN

    @property
    def llm_log(self) -> Path:
        """The LLM text backend's per-question log (JSON lines: question, result, failure kind and detail, raw
        answer)."""
        return self.root / self.LLM_LOG

    @property
    def summary(self) -> Path:
        return self.root / self.SUMMARY

    @property
    def manifest(self) -> Path:
        return self.root / self.MANIFEST

    @property
    def report(self) -> Path:
        return self.root / self.REPORT

    @property
    def build_log(self) -> Path:
        return self.root / self.BUILD_LOG

    @property
    def lock(self) -> Path:
        return self.root / self.LOCK

    def ref(self, path: str | Path) -> str:
        """``path`` as records and tables store it: relative to OUT in POSIX form (``../corpus/x.nii.gz``), computed
        from both resolved paths so a build started from any folder, by a relative or an absolute OUT, stores the
        same string; absolute only when no relative path exists (another drive)."""
        target = Path(path).resolve()
        try:
            return Path(os.path.relpath(target, self.root.resolve())).as_posix()
        except ValueError:
            return target.as_posix()

    @staticmethod
    def corpus_ref(path: str | Path, anchor: str | Path) -> str:
        """``path`` relative to the corpus folder ``anchor`` it was found under (POSIX; absolute when it lies
        outside it): what a loader needs to re-anchor a moved corpus."""
        target, base = Path(path).resolve(), Path(anchor).resolve()
        try:
            return target.relative_to(base).as_posix()
        except ValueError:
            return target.as_posix()

    def resolve(self, ref: str | Path) -> Path:
        """A path stored in a record: absolute as is; relative to OUT when it exists there, else to the cwd."""
        p = Path(ref)
        if p.is_absolute():
            return p
        under_out = self.root / p
        return under_out if under_out.exists() else p

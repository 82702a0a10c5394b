"""A training loader over a build's Parquet tables: CT, region mask and text or QA per row.

``RadGenomeDataset`` is a map-style dataset (``__len__`` + ``__getitem__``) that ``torch.utils.data.DataLoader``
accepts; torch is imported only when an item is converted to tensors, so the class and its numpy core
(:meth:`RadGenomeDataset.load_item`) work without the ``[torch]`` extra.

Arrays are on the CT's canonical RAS grid (:func:`radgenome.corpus.volume.read_ct`): axis 0 -> R, 1 -> A,
2 -> S; the label map (stored on the input's own grid) is reoriented the same way, so image and mask always
share shape and affine. A label map written in SAT space (``--space sat``) keeps its grid and the CT is resampled
onto it.

Paths: the tables store the CT relative to OUT (``volume_path``, e.g. ``../corpus/dataset/.../x.nii.gz``) and
relative to the corpus folder it was found under (``volume_corpus_path``), and label maps relative to OUT. So the
loader works from any working folder, and after OUT and its corpus move together; when only OUT moves (another
machine, another disk), ``corpus_root`` names where the corpus now lives (the folder that was given to the build
as CT-RATE ROOT, or as ``--volumes``) and every CT is re-anchored there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from radgenome.model import OutputLayout

Table = Literal["sentences", "qa"]
TABLE_FILES: dict[str, str] = {"sentences": OutputLayout.GROUNDED_SENTENCES, "qa": OutputLayout.QA_PAIRS}


class MaskUnavailableError(LookupError):
    """A row whose region has no usable mask (status other than ``ok``) and ``allow_missing_masks`` is False."""


class RadGenomeDataset:
    """Rows of ``OUT/dataset/grounded_sentences.parquet`` (``table="sentences"``) or ``qa_pairs.parquet``
    (``table="qa"``), each loaded with its CT and region mask.

    Args:
        out_dir: a build's OUT folder.
        split: keep only rows of this split (``train``, ``validation``, ...).
        crop_to_region: crop image and mask to the mask's bounding box plus ``margin_mm`` on every side
            (clipped to the volume); no crop when there is no mask.
        transform: called on every item (the dict of tensors) returned by ``__getitem__``.
        allow_missing_masks: by default a row whose mask status is not ``ok`` raises
            :class:`MaskUnavailableError`; with True such a row yields the union of the masks that exist, or
            ``mask=None`` when none does (``mask_status`` says why).
        kinds: QA kinds to keep (``abnormality``, ``location``, ``presence``, ``size``, ``disorders``).
            Case-level ``disorders`` questions have no region: their ``mask`` is None and they never raise.
        corpus_root: where the build's corpus lives now, when it moved (see the module doc); None: the CT paths
            are used as stored (relative to OUT).

    A row whose CT or label map file is missing raises ``FileNotFoundError`` (always).
    """

    def __init__(
        self,
        out_dir: str | Path,
        table: Table = "sentences",
        split: str | None = None,
        crop_to_region: bool = False,
        margin_mm: float = 10.0,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        *,
        allow_missing_masks: bool = False,
        kinds: Sequence[str] | None = None,
        corpus_root: str | Path | None = None,
    ) -> None:
        import pyarrow.parquet as pq

        if table not in TABLE_FILES:
            raise ValueError(f"table must be one of {sorted(TABLE_FILES)}, not {table!r}")
        self.out_dir = Path(out_dir)
        self.table = table
        self.crop_to_region = crop_to_region
        self.margin_mm = float(margin_mm)
        self.transform = transform
        self.allow_missing_masks = allow_missing_masks
        self.corpus_root = Path(corpus_root) if corpus_root is not None else None
        path = self.out_dir / TABLE_FILES[table]
        if not path.exists():
            raise FileNotFoundError(f"{path}: no {table} table (run `radgenome build` first)")
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        if split is not None:
            rows = [r for r in rows if r["split"] == split]
        if kinds is not None:
            if table != "qa":
                raise ValueError("kinds= applies to the qa table only")
            rows = [r for r in rows if r["kind"] in set(kinds)]
        self.rows = rows
        self._cache: tuple[tuple[str, str | None], tuple[np.ndarray, np.ndarray, Any]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    # ------------------------------------------------------------------------------------------ loading
    def _volume(self, row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, Any]:
        """(HU float32, affine, (label map, labels) or None) on one grid, cached for consecutive rows.

        The label map (native grid) is reoriented to canonical RAS like the CT; a label map on another grid
        (SAT space) keeps its grid and the CT is resampled onto it (linear).
        """
        from radgenome.corpus.volume import read_ct, to_canonical
        from radgenome.segmentation.io import read_segmentation
        from radgenome.segmentation.satspace import resample_ct

        if row.get("volume_path") is None:
            raise FileNotFoundError(f"{row['volume']}: the case record has no CT volume path")
        key = (str(row["volume_path"]), row.get("labelmap"))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        ct_path = self.ct_path(row)
        if not ct_path.exists():
            hint = "" if self.corpus_root is not None else " (moved the corpus? pass corpus_root=)"
            raise FileNotFoundError(f"{row['volume']}: CT volume {ct_path} is missing{hint}")
        ct = read_ct(ct_path)
        hu, affine = np.asarray(ct.hu, dtype=np.float32), np.asarray(ct.affine, dtype=np.float64)
        seg = None
        if row.get("labelmap"):
            lm_path = self.out_dir / row["labelmap"]
            if not lm_path.exists():
                raise FileNotFoundError(f"{row['volume']}: label map {lm_path} is missing")
            labelmap, lm_affine, labels, _ = read_segmentation(lm_path)
            canon, canon_affine = to_canonical(labelmap, lm_affine)
            if canon.shape != hu.shape or not np.allclose(canon_affine, affine, atol=1e-3):
                hu = resample_ct(hu, affine, canon.shape, canon_affine)
                affine = np.asarray(canon_affine, dtype=np.float64)
            seg = (np.asarray(canon), labels)
        value = (hu, affine, seg)
        self._cache = (key, value)
        return value

    def ct_path(self, row: dict[str, Any]) -> Path:
        """Where the row's CT is: re-anchored under ``corpus_root`` when given, else as stored (relative to OUT)."""
        if self.corpus_root is not None:
            rel = row.get("volume_corpus_path")
            if not rel:
                raise FileNotFoundError(
                    f"{row['volume']}: the table stores no path relative to the corpus (volume_corpus_path); "
                    "rebuild it with this version to re-anchor a moved corpus"
                )
            return self.corpus_root / rel if not Path(rel).is_absolute() else Path(rel)
        return OutputLayout(self.out_dir).resolve(str(row["volume_path"]))

    def _refs(self, row: dict[str, Any]) -> list[tuple[str, str]]:
        """(node, status) of every mask the row refers to (empty for case-level questions)."""
        if self.table == "sentences":
            return [(m["node"], m["status"]) for m in row["masks"]]
        if row.get("mask_node") is None:
            return []
        return [(row["mask_node"], row["mask_status"])]

    def _mask(self, row: dict[str, Any], seg: Any) -> tuple[np.ndarray | None, list[str]]:
        from radgenome.regions import region_mask

        refs = self._refs(row)
        statuses = [status for _, status in refs]
        bad = [f"{node}: {status}" for node, status in refs if status != "ok"]
        if bad and not self.allow_missing_masks:
            where = row.get("path") or ", ".join(row.get("node_paths") or [])
            raise MaskUnavailableError(
                f"{row['volume']} ({where}): no usable mask ({'; '.join(bad)}); "
                "pass allow_missing_masks=True to load such rows with mask=None"
            )
        ok = [node for node, status in refs if status == "ok"]
        if not ok or seg is None:
            return None, statuses
        labelmap, labels = seg
        mask = np.zeros(labelmap.shape, dtype=bool)
        for node in ok:
            mask |= region_mask(labelmap, labels, node)
        return mask.astype(np.uint8), statuses

    def _crop_box(self, mask: np.ndarray, affine: np.ndarray) -> tuple[slice, ...] | None:
        nz = np.nonzero(mask)
        if not nz[0].size:
            return None
        spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
        box = []
        for axis in range(3):
            pad = math.ceil(self.margin_mm / spacing[axis] - 1e-9)
            lo = max(int(nz[axis].min()) - pad, 0)
            hi = min(int(nz[axis].max()) + pad + 1, mask.shape[axis])
            box.append(slice(lo, hi))
        return tuple(box)

    def load_item(self, index: int) -> dict[str, Any]:
        """The item as numpy arrays and plain values (what ``__getitem__`` turns into tensors)."""
        row = self.rows[index]
        hu, affine, seg = self._volume(row)
        mask, statuses = self._mask(row, seg)
        lo = np.zeros(3, dtype=np.int64)
        hi = np.array(hu.shape, dtype=np.int64)
        image = hu
        if self.crop_to_region and mask is not None:
            box = self._crop_box(mask, affine)
            if box is not None:
                image, mask = hu[box], mask[box]
                lo = np.array([s.start for s in box], dtype=np.int64)
                hi = np.array([s.stop for s in box], dtype=np.int64)
        crop_affine = affine.copy()
        crop_affine[:3, 3] = affine[:3, :3] @ lo + affine[:3, 3]
        item: dict[str, Any] = {
            "image": np.ascontiguousarray(image, dtype=np.float32)[None],
            "mask": None if mask is None else np.ascontiguousarray(mask)[None],
            "affine": crop_affine,
            "bbox": np.concatenate([lo, hi]),
            "volume": row["volume"],
            "stem": row["stem"],
            "split": row["split"],
            "mask_status": statuses,
        }
        if self.table == "sentences":
            item.update(
                text=row["text"],
                path=row["node_paths"][0] if row["node_paths"] else "",
                paths=list(row["node_paths"]),
                nodes=list(row["nodes"]),
                sentence_index=row["sentence_index"],
                section=row["section"],
            )
        else:
            item.update(
                question=row["question"],
                answer=row["answer"],
                kind=row["kind"],
                variant=row["variant"],
                path=row["path"] or "",
                node=row["node"] or "",
                qa_id=row["qa_id"],
            )
        return item

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        item = self.load_item(index)
        item["image"] = torch.from_numpy(item["image"])
        if item["mask"] is not None:
            item["mask"] = torch.from_numpy(item["mask"])
        item["affine"] = torch.from_numpy(item["affine"])
        item["bbox"] = torch.from_numpy(item["bbox"])
        return self.transform(item) if self.transform is not None else item

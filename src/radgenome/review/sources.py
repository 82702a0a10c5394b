"""What there is to review in a build output, read by the dataset's own schema.

- **Grounded sentence items** come from ``OUT/dataset/grounded_sentences.parquet``
  (:data:`radgenome.dataset.schemas.SENTENCE_SCHEMA`): one item per sentence that feeds the region report
  (``in_region_report``) and per (node, top-level region) of the RadGenome paths the build recorded for it
  (``node_paths``). The path is the one the text engine chose for that sentence, never a path picked here from
  the hierarchy; a node recorded under two top-level regions gives an item for each, while the two paths of a
  node inside one region (``lung/lung/left lung/left lung upper lobe`` and ``lung/lung/lung upper lobe/left lung
  upper lobe``) are the same question for a reader and give one item (the path through the node's side, as a
  radiologist reads it: :func:`reading_order`).
- **QA items** come from ``OUT/dataset/qa_pairs.parquet`` (:data:`radgenome.dataset.schemas.QA_SCHEMA`), with
  the path the dataset writer recorded.
- The **report** shown beside an item and the files it points at come from ``OUT/cases/<stem>.json``, read on
  demand (:class:`CaseIndex`).

A row that cannot become an item (a path outside the hierarchy, a case without a record) is skipped and named
in :attr:`LoadedItems.problems`; the other items load.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from radgenome.anatomy import Hierarchy, UnknownNodeError, load_hierarchy
from radgenome.dataset.schemas import QA_SCHEMA, SENTENCE_SCHEMA
from radgenome.model import CaseRecord, OutputLayout, read_record

SENTENCE_COLUMNS = ("volume", "stem", "split", "sentence_index", "text", "in_region_report", "node_paths", "masks",
                    "flags")
QA_COLUMNS = ("qa_id", "volume", "stem", "split", "kind", "question", "answer", "path", "node", "sentence_indices",
              "mask_status")
for _name in SENTENCE_COLUMNS:
    SENTENCE_SCHEMA.field(_name)  # a renamed column fails here, at import, not on a user's data
for _name in QA_COLUMNS:
    QA_SCHEMA.field(_name)


class NotABuildError(ValueError):
    """The folder is not a finished ``radgenome build`` output."""


@dataclass(frozen=True)
class ItemSpec:
    id: str
    kind: str
    qa_kind: str
    source_id: str
    volume: str
    stem: str
    split: str
    sentence_index: int | None
    sentence_indices: str
    node: str
    path: str
    region: str
    text: str
    answer: str
    flagged: bool
    flags: str
    mask_status: str


@dataclass
class LoadedItems:
    items: list[ItemSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per skipped row: file, volume, what was wrong."""


def item_id(*parts: object) -> str:
    """A stable 16-hex id of an item's natural key (ids are URL-safe and carry no path)."""
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]


def region_of(path: str) -> str:
    return path.split("/", 1)[0] if path else ""


def case_stems(out: Path) -> set[str]:
    return {p.name[: -len(".json")] for p in OutputLayout(out).cases_dir.glob("*.json")}


def _read(path: Path, columns: Iterable[str]) -> list[dict[str, Any]]:
    return pq.read_table(path, columns=list(columns)).to_pylist()


def _path_node(h: Hierarchy, path: str) -> str:
    return h.node_of_path(path)


def reading_order(paths: Iterable[str]) -> list[str]:
    """Recorded paths, those whose parent carries the node's side (``left lung`` above ``left lung upper lobe``,
    ``left rib`` above ``left rib 7``) first; otherwise in recorded order."""

    def lateral_parent(path: str) -> bool:
        parts = path.split("/")
        side = parts[-1].split(" ", 1)[0]
        return len(parts) > 1 and side in ("left", "right") and parts[-2].startswith(side + " ")

    return sorted(dict.fromkeys(paths), key=lambda p: not lateral_parent(p))


def sentence_items(out: Path, stems: set[str], h: Hierarchy, loaded: LoadedItems) -> dict[tuple[str, int], str]:
    """Add the grounded-sentence items; returns the flags of every sentence by (stem, index) for the QA items."""
    file = OutputLayout(out).grounded_sentences
    flags_by_sentence: dict[tuple[str, int], str] = {}
    for row in _read(file, SENTENCE_COLUMNS):
        stem, index = str(row["stem"]), int(row["sentence_index"])
        flags = "\n".join(str(f) for f in row["flags"] or [])
        flags_by_sentence[(stem, index)] = flags
        if not row["in_region_report"]:
            continue
        if stem not in stems:
            loaded.problems.append(f"{file}: {row['volume']}: no case record {OutputLayout.CASES}/{stem}.json")
            continue
        status = {str(m["node"]): str(m["status"] or "") for m in row["masks"] or []}
        asked: set[tuple[str, str]] = set()
        for path in reading_order(row["node_paths"] or []):
            try:
                node = _path_node(h, path)
            except UnknownNodeError:
                loaded.problems.append(f"{file}: {row['volume']} sentence {index}: {path!r} is not a region path")
                continue
            if (node, region_of(path)) in asked:
                continue  # another path of this node in the same region: the same question for the reader
            asked.add((node, region_of(path)))
            loaded.items.append(ItemSpec(
                id=item_id("sentence", row["volume"], index, path),
                kind="sentence",
                qa_kind="",
                source_id="",
                volume=str(row["volume"]),
                stem=stem,
                split=str(row["split"]),
                sentence_index=index,
                sentence_indices=str(index),
                node=node,
                path=path,
                region=region_of(path),
                text=str(row["text"]),
                answer="",
                flagged=bool(flags),
                flags=flags,
                mask_status=status.get(node, ""),
            ))
    return flags_by_sentence


def qa_items(out: Path, stems: set[str], h: Hierarchy, flags_by_sentence: dict[tuple[str, int], str],
             loaded: LoadedItems) -> None:
    file = OutputLayout(out).qa_pairs
    if not file.exists():
        return
    seen: dict[str, int] = {}
    for row in _read(file, QA_COLUMNS):
        stem = str(row["stem"])
        if stem not in stems:
            loaded.problems.append(f"{file}: {row['volume']}: no case record {OutputLayout.CASES}/{stem}.json")
            continue
        path = str(row["path"] or "")
        if path:
            try:
                _path_node(h, path)
            except UnknownNodeError:
                loaded.problems.append(f"{file}: {row['qa_id']}: {path!r} is not a region path")
                continue
        indices = [int(i) for i in row["sentence_indices"] or []]
        natural = item_id("qa", row["volume"], row["kind"], row["question"], row["answer"], path)
        n = seen.get(natural, 0)
        seen[natural] = n + 1
        flags = "\n".join(f for i in indices if (f := flags_by_sentence.get((stem, i))))
        loaded.items.append(ItemSpec(
            id=item_id(natural, n),
            kind="qa",
            qa_kind=str(row["kind"]),
            source_id=str(row["qa_id"] or ""),
            volume=str(row["volume"]),
            stem=stem,
            split=str(row["split"]),
            sentence_index=min(indices) if indices else None,
            sentence_indices=",".join(str(i) for i in indices),
            node=str(row["node"] or ""),
            path=path,
            region=region_of(path),
            text=str(row["question"]),
            answer=str(row["answer"]),
            flagged=bool(flags),
            flags=flags,
            mask_status=str(row["mask_status"] or ""),
        ))


def load_items(out: Path, hierarchy: Hierarchy | None = None) -> LoadedItems:
    """Every item of the build output ``out``, in build order (sentence items, then QA pairs)."""
    out = Path(out)
    layout = OutputLayout(out)
    if not layout.cases_dir.is_dir():
        raise NotABuildError(f"{out}: not a `radgenome build` output (no {OutputLayout.CASES}/ folder)")
    if not layout.grounded_sentences.is_file():
        raise NotABuildError(f"{out}: no {OutputLayout.GROUNDED_SENTENCES} (the build has not finished)")
    h = hierarchy or load_hierarchy()
    stems = case_stems(out)
    loaded = LoadedItems()
    flags = sentence_items(out, stems, h, loaded)
    qa_items(out, stems, h, flags, loaded)
    return loaded


class CaseIndex:
    """The build's case records by stem, read on demand and kept in a small LRU cache.

    Only stems listed in ``OUT/cases/`` at start-up are known: a request's case id is looked up here, and never
    becomes a path by itself.
    """

    def __init__(self, out: Path, cache_size: int = 256) -> None:
        self.out = Path(out)
        self.layout = OutputLayout(self.out)
        self.stems = case_stems(self.out)
        self._cache: OrderedDict[str, CaseRecord] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def __contains__(self, stem: object) -> bool:
        return stem in self.stems

    def __len__(self) -> int:
        return len(self.stems)

    def record(self, stem: str) -> CaseRecord:
        """The record of ``stem``; KeyError for a stem that is not a case of this build."""
        if stem not in self.stems:
            raise KeyError(stem)
        with self._lock:
            hit = self._cache.get(stem)
            if hit is not None:
                self._cache.move_to_end(stem)
                return hit
        rec = read_record(self.layout.case_record(stem))
        with self._lock:
            self._cache[stem] = rec
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return rec

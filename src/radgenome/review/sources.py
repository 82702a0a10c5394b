"""What there is to review in a build output: the case records and the QA pairs table.

Grounded sentence items come from ``OUT/cases/<stem>.json`` (one item per grounded sentence and node); QA items
from ``OUT/dataset/qa_pairs.parquet`` when present, read generically (the column names below are looked up
with a few aliases, so the reader does not depend on the dataset layer's exact schema).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radgenome.anatomy import TOP_LEVEL_REGIONS, UnknownNodeError, load_hierarchy
from radgenome.model import CaseRecord, Sentence, read_record

QA_PARQUET = Path("dataset") / "qa_pairs.parquet"
_GROUNDED = ("findings", "impressions")

QA_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("qa_id", "id", "pair_id"),
    "volume": ("volume", "Volumename", "VolumeName", "volume_name"),
    "kind": ("kind", "qa_kind", "type", "question_type"),
    "question": ("question", "Question"),
    "answer": ("answer", "Answer"),
    "path": ("path", "region_path", "anatomy", "Anatomy"),
    "node": ("node", "region_node", "region"),
    "sentences": ("sentence_indices", "source_sentences", "sentence_ids", "source_sentence_ids"),
    "split": ("split",),
    "mask_status": ("mask_status",),
}


@dataclass(frozen=True)
class ItemSpec:
    id: str
    kind: str
    qa_kind: str
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


def item_id(*parts: object) -> str:
    """A stable 16-hex id of an item's natural key (ids are URL-safe and carry no path)."""
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]


def load_records(out: Path) -> dict[str, CaseRecord]:
    """Case records by stem, in stem order (only files named ``cases/*.json``)."""
    records: dict[str, CaseRecord] = {}
    for path in sorted((Path(out) / "cases").glob("*.json")):
        rec = read_record(path)
        records[rec.stem] = rec
    return records


def node_path(node: str) -> tuple[str, str]:
    """(first RadGenome path of ``node``, its top-level region); unknown nodes map to themselves."""
    h = load_hierarchy()
    try:
        paths = h.paths(node)
    except UnknownNodeError:
        return node, node if node in TOP_LEVEL_REGIONS else ""
    path = paths[0] if paths else node
    return path, path.split("/", 1)[0]


def grounded_sentence_dicts(rec: CaseRecord) -> list[Sentence]:
    """The sentences feeding the region tables: the findings, or the impression when there are none."""
    for section in _GROUNDED:
        sents = [s for s in rec.sentences if s.section.value == section and s.nodes]
        if sents:
            return sents
    return []


def sentence_items(rec: CaseRecord) -> Iterator[ItemSpec]:
    for sent in grounded_sentence_dicts(rec):
        index = sent.index
        for node in sent.nodes:
            flags = [f for f in rec.flags if f.sentence_index == index and (f.node is None or f.node == node)]
            link = rec.node_masks.get(node)
            path, region = node_path(node)
            yield ItemSpec(
                id=item_id("sentence", rec.volume, index, node),
                kind="sentence",
                qa_kind="",
                volume=rec.volume,
                stem=rec.stem,
                split=rec.split,
                sentence_index=index,
                sentence_indices=str(index),
                node=node,
                path=path,
                region=region,
                text=sent.text,
                answer="",
                flagged=bool(flags),
                flags="\n".join(f"{f.kind}: {f.detail}".rstrip(": ") for f in flags),
                mask_status=link.status if link else ("not_segmented" if rec.masks.labelmap is None else ""),
            )


def _column(names: list[str], key: str) -> str | None:
    for alias in QA_COLUMNS[key]:
        if alias in names:
            return alias
    return None


def _indices(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return ",".join(p.strip() for p in value.replace(";", ",").split(",") if p.strip())
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        seq = value.tolist() if hasattr(value, "tolist") else value
        return ",".join(str(int(v)) for v in seq if v is not None)
    return str(int(value))


def qa_items(out: Path, records: dict[str, CaseRecord]) -> Iterator[ItemSpec]:
    """QA pairs of ``OUT/dataset/qa_pairs.parquet`` whose volume has a case record."""
    path = Path(out) / QA_PARQUET
    if not path.exists():
        return
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = table.column_names
    cols = {key: _column(names, key) for key in QA_COLUMNS}
    for key in ("volume", "question", "answer"):
        if cols[key] is None:
            raise ValueError(f"{path}: no {key} column (looked for {', '.join(QA_COLUMNS[key])})")
    by_volume = {rec.volume: rec for rec in records.values()}
    rows = table.to_pylist()
    seen: dict[str, int] = {}
    for row in rows:
        volume = str(row[cols["volume"]])  # type: ignore[index]
        rec = by_volume.get(volume)
        if rec is None:
            continue
        kind = str(row[cols["kind"]]) if cols["kind"] else "qa"
        question = str(row[cols["question"]])  # type: ignore[index]
        answer = str(row[cols["answer"]])  # type: ignore[index]
        rpath = str(row[cols["path"]] or "") if cols["path"] else ""
        node = str(row[cols["node"]] or "") if cols["node"] else ""
        if not node and rpath:
            node = rpath.rsplit("/", 1)[-1]
        if not rpath and node:
            rpath = node_path(node)[0]
        sentences = _indices(row[cols["sentences"]]) if cols["sentences"] else ""
        natural = ("qa", volume, kind, question, answer, rpath)
        if cols["id"] and row[cols["id"]] is not None:
            natural = ("qa", volume, str(row[cols["id"]]))
        n = seen.get(item_id(*natural), 0)
        seen[item_id(*natural)] = n + 1
        link = rec.node_masks.get(node)
        first = {int(i) for i in sentences.split(",") if i}
        flags = [f for f in rec.flags if f.sentence_index in first and (f.node is None or f.node == node)]
        yield ItemSpec(
            id=item_id(*natural, n),
            kind="qa",
            qa_kind=kind,
            volume=volume,
            stem=rec.stem,
            split=str(row[cols["split"]]) if cols["split"] and row[cols["split"]] else rec.split,
            sentence_index=min(first) if first else None,
            sentence_indices=sentences,
            node=node,
            path=rpath,
            region=rpath.split("/", 1)[0] if rpath else "",
            text=question,
            answer=answer,
            flagged=bool(flags),
            flags="\n".join(f"{f.kind}: {f.detail}".rstrip(": ") for f in flags),
            mask_status=str(row[cols["mask_status"]] or "") if cols["mask_status"] else (link.status if link else ""),
        )


def all_items(out: Path, records: dict[str, CaseRecord]) -> list[ItemSpec]:
    items: list[ItemSpec] = []
    for rec in records.values():
        items.extend(sentence_items(rec))
    items.extend(qa_items(out, records))
    return items

"""``sentences.parquet``: one row per report sentence with its grounding, findings, sizes and provenance."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from radgenome.anatomy import Hierarchy, load_hierarchy
from radgenome.atomic import atomic_path
from radgenome.model import ReportAnalysis, Sentence

_FINDING = pa.struct(
    [
        ("phrase", pa.string()),
        ("polarity", pa.string()),
        ("nodes", pa.list_(pa.string())),
        ("attributes", pa.list_(pa.string())),
        ("sizes_mm", pa.list_(pa.float64())),
        ("size_kinds", pa.list_(pa.string())),
    ]
)
_MEASUREMENT = pa.struct(
    [
        ("text", pa.string()),
        ("unit", pa.string()),
        ("values_mm", pa.list_(pa.float64())),
        ("largest_mm", pa.float64()),
        ("kind", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("volume", pa.string()),
        ("section", pa.string()),
        ("index", pa.int32()),
        ("text", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("marker", pa.string()),
        ("nodes", pa.list_(pa.string())),
        ("paths", pa.list_(pa.string())),
        ("grounding_confidence", pa.float32()),
        ("polarity", pa.string()),
        ("findings", pa.list_(_FINDING)),
        ("measurements", pa.list_(_MEASUREMENT)),
        ("flags", pa.list_(pa.string())),
        ("backend", pa.string()),
        ("version", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
    ]
)


def _sentence_parts(s: Sentence, h: Hierarchy) -> tuple[object, ...]:
    return (
        list(s.expanded_paths()) if s.nodes else [],
        s.polarity.value if s.polarity else None,
        [
            {
                "phrase": f.phrase,
                "polarity": f.polarity.value,
                "nodes": list(f.nodes),
                "attributes": list(f.attributes),
                "sizes_mm": [m.largest_mm for m in f.measurements],
                "size_kinds": [m.kind.value for m in f.measurements],
            }
            for f in s.findings
        ],
        [
            {"text": m.text, "unit": m.unit, "values_mm": list(m.values_mm), "largest_mm": m.largest_mm,
             "kind": m.kind.value}
            for m in s.measurements
        ],
    )


def sentence_columns(
    analyses: Iterable[ReportAnalysis], provenance: Mapping[str, str] | None = None
) -> dict[str, list[object]]:
    """The table's columns, built column-wise (one dict per row would cost more than the analysis)."""
    h = load_hierarchy()
    prov = dict(provenance or {})
    # the rules' derived columns depend only on (text, nodes, section): CT-RATE repeats sentences a lot
    memo: dict[tuple[str, tuple[str, ...], tuple[str, ...], str], tuple[object, ...]] = {}
    sents: list[Sentence] = []
    versions: list[str] = []
    for analysis in analyses:
        sents.extend(analysis.sentences)
        versions.extend([analysis.version] * len(analysis.sentences))
    parts: list[tuple[object, ...]] = []
    for s in sents:
        if s.backend == "rules":
            key = (s.text, s.nodes, s.node_paths, s.section)
            p = memo.get(key)
            if p is None:
                p = memo[key] = _sentence_parts(s, h)
        else:
            p = _sentence_parts(s, h)
        parts.append(p)
    return {
        "volume": [s.volume for s in sents],
        "section": [s.section.value for s in sents],
        "index": [s.index for s in sents],
        "text": [s.text for s in sents],
        "start": [s.start for s in sents],
        "end": [s.end for s in sents],
        "marker": [s.marker for s in sents],
        "nodes": [list(s.nodes) for s in sents],
        "paths": [p[0] for p in parts],
        "grounding_confidence": [s.grounding_confidence for s in sents],
        "polarity": [p[1] for p in parts],
        "findings": [p[2] for p in parts],
        "measurements": [p[3] for p in parts],
        "flags": [list(s.flags) for s in sents],
        "backend": [s.backend for s in sents],
        "version": versions,
        # the model's provenance only where its answer was used (hybrid runs keep most sentences the rules')
        "model": [prov.get("model") if s.backend == "llm" else None for s in sents],
        "prompt_version": [prov.get("prompt_version") if s.backend == "llm" else None for s in sents],
    }


def write_sentences_parquet(
    analyses: Iterable[ReportAnalysis], path: Path, provenance: Mapping[str, str] | None = None
) -> int:
    """Write the table atomically; returns the number of rows."""
    table = pa.Table.from_pydict(sentence_columns(analyses, provenance), schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows

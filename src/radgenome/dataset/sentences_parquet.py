"""``sentences.parquet``: one row per report sentence with its grounding, findings, sizes and provenance."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from radgenome.anatomy import Hierarchy, load_hierarchy
from radgenome.atomic import atomic_path
from radgenome.text.model import ReportAnalysis, Sentence

_FINDING = pa.struct(
    [
        ("phrase", pa.string()),
        ("polarity", pa.string()),
        ("nodes", pa.list_(pa.string())),
        ("attributes", pa.list_(pa.string())),
        ("sizes_mm", pa.list_(pa.float64())),
    ]
)
_MEASUREMENT = pa.struct(
    [
        ("text", pa.string()),
        ("unit", pa.string()),
        ("values_mm", pa.list_(pa.float64())),
        ("largest_mm", pa.float64()),
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
        list(h.expand_paths(s.nodes)) if s.nodes else [],
        s.polarity.value if s.polarity else None,
        [
            {
                "phrase": f.phrase,
                "polarity": f.polarity.value,
                "nodes": list(f.nodes),
                "attributes": list(f.attributes),
                "sizes_mm": [m.largest_mm for m in f.measurements],
            }
            for f in s.findings
        ],
        [
            {"text": m.text, "unit": m.unit, "values_mm": list(m.values_mm), "largest_mm": m.largest_mm}
            for m in s.measurements
        ],
    )


def sentence_columns(
    analyses: Iterable[ReportAnalysis], provenance: Mapping[str, str] | None = None
) -> dict[str, list[object]]:
    """The table's columns (built column-wise: one dict per row would cost more than the analysis)."""
    h = load_hierarchy()
    prov = dict(provenance or {})
    model, prompt_version = prov.get("model"), prov.get("prompt_version")
    # the rules' derived columns depend only on (text, nodes, section): CT-RATE repeats sentences a lot
    memo: dict[tuple[str, tuple[str, ...], str], tuple[object, ...]] = {}
    cols: dict[str, list[object]] = {name: [] for name in SCHEMA.names}
    volume, section, index, text = cols["volume"], cols["section"], cols["index"], cols["text"]
    start, end, marker, nodes = cols["start"], cols["end"], cols["marker"], cols["nodes"]
    paths, confidence = cols["paths"], cols["grounding_confidence"]
    polarity, findings, measurements = cols["polarity"], cols["findings"], cols["measurements"]
    flags, backend, version = cols["flags"], cols["backend"], cols["version"]
    for analysis in analyses:
        for s in analysis.sentences:
            sec = s.section.value
            if s.backend == "rules":
                key = (s.text, s.nodes, sec)
                parts = memo.get(key)
                if parts is None:
                    parts = memo[key] = _sentence_parts(s, h)
            else:
                parts = _sentence_parts(s, h)
            volume.append(s.volume)
            section.append(sec)
            index.append(s.index)
            text.append(s.text)
            start.append(s.start)
            end.append(s.end)
            marker.append(s.marker)
            nodes.append(list(s.nodes))
            paths.append(parts[0])
            confidence.append(s.grounding_confidence)
            polarity.append(parts[1])
            findings.append(parts[2])
            measurements.append(parts[3])
            flags.append(list(s.flags))
            backend.append(s.backend)
            version.append(analysis.version)
    n = len(volume)
    cols["model"] = [model] * n
    cols["prompt_version"] = [prompt_version] * n
    return cols


def write_sentences_parquet(
    analyses: Iterable[ReportAnalysis], path: Path, provenance: Mapping[str, str] | None = None
) -> int:
    """Write the table atomically; returns the number of rows."""
    table = pa.Table.from_pydict(sentence_columns(analyses, provenance), schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows

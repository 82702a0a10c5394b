"""Arrow schemas of ``OUT/dataset/grounded_sentences.parquet`` and ``OUT/dataset/qa_pairs.parquet``."""

from __future__ import annotations

import pyarrow as pa

_STRINGS = pa.list_(pa.string())

MASK_REF = pa.struct(
    [
        ("node", pa.string()),
        ("status", pa.string()),
        ("labelmap", pa.string()),
        ("voxels", pa.int64()),
        ("structures", _STRINGS),
    ]
)
FINDING = pa.struct(
    [
        ("phrase", pa.string()),
        ("polarity", pa.string()),
        ("nodes", _STRINGS),
        ("attributes", _STRINGS),
        ("sizes", _STRINGS),
        ("sizes_mm", pa.list_(pa.float64())),
        ("size_kinds", _STRINGS),
    ]
)
_PROVENANCE = [
    ("text_backend", pa.string()),
    ("text_version", pa.string()),
    ("seg_backend", pa.string()),
    ("seg_version", pa.string()),
    ("radgenome_version", pa.string()),
]

SENTENCE_SCHEMA = pa.schema(
    [
        ("volume", pa.string()),
        ("stem", pa.string()),
        ("split", pa.string()),
        ("section", pa.string()),
        ("sentence_index", pa.int32()),
        ("text", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("in_region_report", pa.bool_()),
        ("nodes", _STRINGS),
        ("node_paths", _STRINGS),
        ("paths", _STRINGS),
        ("masks", pa.list_(MASK_REF)),
        ("labelmap", pa.string()),
        ("polarity", pa.string()),
        ("grounding_confidence", pa.float32()),
        ("findings", pa.list_(FINDING)),
        ("flags", _STRINGS),
        ("volume_path", pa.string()),
        ("volume_corpus_path", pa.string()),
        *_PROVENANCE,
    ]
)

QA_SCHEMA = pa.schema(
    [
        ("qa_id", pa.string()),
        ("volume", pa.string()),
        ("stem", pa.string()),
        ("split", pa.string()),
        ("kind", pa.string()),
        ("variant", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("path", pa.string()),
        ("node", pa.string()),
        ("region", pa.string()),
        ("finding", pa.string()),
        ("answer_paths", _STRINGS),
        ("size_mm", pa.float64()),
        ("sentence_indices", pa.list_(pa.int32())),
        ("template_id", pa.string()),
        ("volume_path", pa.string()),
        ("volume_corpus_path", pa.string()),
        ("labelmap", pa.string()),
        ("mask_labelmap", pa.string()),
        ("mask_node", pa.string()),
        ("mask_status", pa.string()),
        ("mask_voxels", pa.int64()),
        *_PROVENANCE,
        ("seed", pa.int64()),
    ]
)

"""A CT-RATE-layout corpus assembled in a temp dir from ../shared/benchmarks (the real chest CT under several
valid_* names with their real reports): it builds, and grounded nodes point at non-empty masks wherever the
classical backend segments the region (no `empty` status, no failed case)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from radgenome.model import read_record

N_CASES = 4


@pytest.mark.benchmark_data
def test_real_ct_corpus_builds_with_masks(benchmarks_dir: Path, tmp_path: Path, run: Callable[..., Any]) -> None:
    ct = benchmarks_dir / "volumes" / "cip_copdgene_10002K_ct64" / "ct.nii.gz"
    with (benchmarks_dir / "ctrate" / "reports.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["VolumeName"].startswith("valid_")][:N_CASES]
    ds = tmp_path / "corpus" / "dataset"
    reports = ds / "radiology_text_reports" / "validation_reports.csv"
    reports.parent.mkdir(parents=True)
    with reports.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        stem = r["VolumeName"].removesuffix(".nii.gz")
        path = ds / "valid_fixed" / stem.rsplit("_", 2)[0] / stem.rsplit("_", 1)[0] / r["VolumeName"]
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(ct, path)
    out = tmp_path / "out"
    res = run(out, tmp_path / "corpus")
    assert res.exit_code == 0, res
    statuses: Counter[str] = Counter()
    for r in rows:
        rec = read_record(out / "cases" / r["VolumeName"].replace(".nii.gz", ".json"))
        statuses.update(m.status for m in rec.node_masks.values())
        for node in ("lung", "heart", "trachea and bronchie", "mediastinum", "bone"):
            if node in rec.node_masks:
                assert rec.node_masks[node].status == "ok", (rec.stem, node)
    assert statuses["ok"] > 0 and statuses["empty"] == 0, statuses

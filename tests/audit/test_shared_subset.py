"""The audit on the real shared subset (RadGenome's own rows and CT-RATE reports); skipped when absent."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from radgenome.audit import run_audit

pytestmark = [pytest.mark.benchmark_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def audited(benchmarks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    out = tmp_path_factory.mktemp("audit")
    release = benchmarks_dir / "radgenome"
    result = run_audit(release, benchmarks_dir / "ctrate" / "reports.csv", out, review=True)
    return release, out, result


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_released_row_has_one_verdict(audited: tuple[Path, Path, object]) -> None:
    release, out, result = audited
    audit = _rows(out / "audit.csv")
    released = {p.name: len(_rows(p)) for p in release.glob("*.csv")}
    assert Counter(r["file"] for r in audit) == Counter(released)
    assert {r["verdict"] for r in audit} <= {"supported", "contradicted", "unsupported", "not_checked"}
    assert result.complete  # type: ignore[attr-defined]


def test_known_errors_of_the_release_are_found(audited: tuple[Path, Path, object]) -> None:
    _, out, _ = audited
    audit = _rows(out / "audit.csv")
    heart_effusion = [r for r in audit if r["file"] == "train_vqa_abnormality.csv" and r["region"] == "heart"
                      and r["verdict"] == "contradicted" and "pericardial effusion: stated_absent" in
                      (r["detail"] or f"{r['value']}: {r['reason']}")]
    assert len(heart_effusion) > 300
    # contradicted rows are always removed or fixed; the others always kept as published
    for r in audit:
        assert (r["action"] in ("removed", "fixed")) == (r["verdict"] == "contradicted"), r


def test_kept_rows_are_byte_identical(audited: tuple[Path, Path, object]) -> None:
    release, out, _ = audited
    original = (release / "validation_region_report_top.csv").read_bytes()
    assert (out / "radgenome_files/validation_region_report_top.csv").read_bytes() == original
    before = (release / "train_vqa_abnormality.csv").read_text(encoding="utf-8").splitlines()
    after = set((out / "radgenome_files/train_vqa_abnormality.csv").read_text(encoding="utf-8").splitlines())
    kept = {int(r["row"]) for r in _rows(out / "audit.csv")
            if r["file"] == "train_vqa_abnormality.csv" and r["action"] == "kept"}
    assert kept and all(before[n] in after for n in kept)  # line n = data row n (no multi-line cells here)

"""Small hand-made RadGenome-layout releases and CT-RATE reports, written into tmp folders by the tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pytest

HEADERS = {
    "vqa_abnormality": ("Volumename", "Anatomy", "Abnormality"),
    "vqa_location": ("Volumename", "Anatomy", "Abnormality"),
    "vqa_presence": ("Volumename", "Anatomy", "Finding", "Presence"),
    "vqa_size": ("Volumename", "Anatomy", "Abnormality", "Size"),
    "case_disorders": ("Volumename", "Disorders"),
    "region_report": ("Volumename", "Anatomy", "Sentence"),
}


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_table(folder: Path, name: str, rows: Sequence[Sequence[str]], *, split: str = "train",
                newline: str = "\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}_{name}.csv"
    path.write_bytes(csv_text(HEADERS[name], rows, newline).encode("utf-8"))
    return path


def write_reports(path: Path, reports: dict[str, tuple[str, str]]) -> Path:
    """``reports``: volume -> (findings, impressions)."""
    rows = [(v, "", "", f, i) for v, (f, i) in reports.items()]
    path.write_text(
        csv_text(("VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"), rows),
        encoding="utf-8",
    )
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return tmp_path / "release"

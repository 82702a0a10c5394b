"""Throughput of the measurement parser (sentences/s) on the shared reports or on generated sentences.

Usage: python benchmarks/bench_measure.py [REPORTS.csv] [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path

from radgenome.text.measure import parse_measurements

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "ctrate" / "reports.csv"
_SPLIT = re.compile(r"(?<=[a-z)])\.\s+")


def _sentences(path: Path) -> list[str]:
    if path.exists():
        with path.open(encoding="utf-8", newline="") as fh:
            texts = [r.get(c) or "" for r in csv.DictReader(fh) for c in ("Findings_EN", "Impressions_EN")]
    else:
        from radgenome.synth.reports import generate_reports

        texts = [t for r in generate_reports(2000, seed=1) for t in (r.findings_text, r.impressions_text)]
    return [s for t in texts for s in _SPLIT.split(t) if s.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("reports", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sentences = _sentences(args.reports)
    found = sum(len(parse_measurements(s)) for s in sentences)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        for s in sentences:
            parse_measurements(s)
    dt = time.perf_counter() - t0
    n = len(sentences) * args.repeat
    print(f"{len(sentences)} sentences, {found} measurements; {n / dt:,.0f} sentences/s")


if __name__ == "__main__":
    main()

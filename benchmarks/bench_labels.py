"""Throughput of the 18-label extractor (sentences + polarity + label rules) on CT-RATE-style reports.

    python3 benchmarks/bench_labels.py [REPORTS.csv] [--min-reports 20000]

Repeats the reports until at least ``--min-reports`` are labelled and prints reports/s and peak memory, for the
normal run (per-sentence caches on: CT-RATE's formulaic sentences repeat across reports) and for a cold run with
the caches cleared before every report (the cost of a report whose sentences were never seen).
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
from pathlib import Path

from radgenome.text import labels, negation

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "ctrate" / "reports.csv"


def _reports(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [(r.get("Findings_EN") or "", r.get("Impressions_EN") or "") for r in csv.DictReader(fh)]


def _clear() -> None:
    labels.sentence_labels.cache_clear()
    negation._scopes.cache_clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--min-reports", type=int, default=20_000)
    args = ap.parse_args()
    if not args.reports.exists():
        raise SystemExit(f"no reports at {args.reports}")
    base = _reports(args.reports)
    reps = -(-args.min_reports // len(base))
    corpus = base * reps
    labels.extract_labels("warm-up", "")
    _clear()
    t0 = time.perf_counter()
    positives = 0
    for findings, impressions in corpus:
        positives += sum(labels.extract_labels(findings, impressions).values())
    dt = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"{len(corpus)} reports ({len(base)} x {reps}): {len(corpus) / dt:,.0f} reports/s, "
          f"peak RSS {peak_mib:.0f} MiB, {positives} positive labels")
    cold = base[: min(len(base), 2000)]
    t0 = time.perf_counter()
    for findings, impressions in cold:
        _clear()
        labels.extract_labels(findings, impressions)
    dt = time.perf_counter() - t0
    print(f"cold (caches cleared per report, {len(cold)} reports): {len(cold) / dt:,.0f} reports/s")


if __name__ == "__main__":
    main()

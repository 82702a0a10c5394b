"""Throughput of the whole `radgenome text` run (read -> analyse -> write tables + parquet).

Runs on the shared CT-RATE reports (../shared/benchmarks/ctrate/reports.csv) repeated to >= 20,000 reports,
as the text-engine issue asks, and prints reports/s and peak memory. Because repeated reports hit the
per-sentence caches, it also prints a *cold* figure: one pass over the distinct reports with empty caches,
which is what a corpus without repeated reports costs.

    python3 benchmarks/bench_text.py [--reports CSV] [--min-reports 20000]
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

from radgenome.corpus.reports import read_reports
from radgenome.pipeline.text_run import run_text
from radgenome.text.base import TextFailure
from radgenome.text.engine import RulesBackend, clear_caches

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "ctrate" / "reports.csv"


def _repeat(src: Path, dst: Path, minimum: int) -> int:
    with src.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    copies = -(-minimum // len(rows))
    with dst.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for k in range(copies):
            for row in rows:
                row = dict(row)
                row["VolumeName"] = f"rep{k}_{row['VolumeName']}"
                w.writerow(row)
    return copies * len(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=Path, default=DEFAULT)
    ap.add_argument("--min-reports", type=int, default=20_000)
    args = ap.parse_args()
    if not args.reports.is_file():
        print(f"reports table not found: {args.reports}", file=sys.stderr)
        return 2

    reports, _ = read_reports(args.reports)
    clear_caches()
    t = time.perf_counter()
    analyses = [a for a in RulesBackend().analyze_many(reports) if not isinstance(a, TextFailure)]
    cold = time.perf_counter() - t
    n_sent = sum(len(a.sentences) for a in analyses)
    print(f"cold analyse: {len(reports)} distinct reports, {n_sent} sentences in {cold:.2f} s "
          f"-> {len(reports) / cold:,.0f} reports/s (empty caches, no writing)")

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "reports.csv"
        n = _repeat(args.reports, big, args.min_reports)
        clear_caches()
        t = time.perf_counter()
        run = run_text(big, Path(tmp) / "out")
        whole = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"whole run: {n} reports ({len(run.analyses)} analysed) in {whole:.2f} s -> {n / whole:,.0f} reports/s "
          f"(read + analyse + write tables + parquet, one core)")
    print(f"peak RSS: {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

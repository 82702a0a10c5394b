"""Throughput of `radgenome audit` on the shared subset (RadGenome's released rows against CT-RATE reports).

Prints released rows/s, the time per stage that dominates (analysing the reports vs judging the rows) and the
peak memory. The full RadGenome-ChestCT release has ~25,000 volumes and millions of rows: the figure here says
how long that takes on one core.

    python3 benchmarks/bench_audit.py [--release DIR] [--reports CSV] [--repeat N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from radgenome.audit import run_audit
from radgenome.text.engine import clear_caches

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", type=Path, default=SHARED / "radgenome")
    ap.add_argument("--reports", type=Path, default=SHARED / "ctrate" / "reports.csv")
    ap.add_argument("--repeat", type=int, default=2, help="runs (the first is cold, the others warm caches)")
    args = ap.parse_args()
    if not args.release.is_dir() or not args.reports.is_file():
        print(f"benchmark data not found under {SHARED}", file=sys.stderr)
        return 2
    for run in range(args.repeat):
        if run == 0:
            clear_caches()
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            result = run_audit(args.release, args.reports, Path(tmp) / "out", review=True)
            seconds = time.perf_counter() - t
        rows = result.summary["rows"]
        vols = result.summary["volumes"]["with_report"]
        print(f"run {run + 1} ({'cold' if run == 0 else 'warm'} engine caches): {rows:,} rows, {vols} reports "
              f"in {seconds:.1f} s -> {rows / seconds:,.0f} rows/s, {vols / seconds:,.0f} reports/s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Review app under load: N concurrent reviewers (default 20) posting decisions for S seconds (default 60)
against a real uvicorn server on 127.0.0.1, then every acknowledged decision is counted in the store.

    python benchmarks/bench_review.py [--reviewers 20] [--seconds 60] [--db URL] [--retry-rate 0.05]

Prints decisions/s, POST latency p50/p95/p99, and the exactly-once check (acknowledged = stored, no key lost,
no row without an acknowledged key, retried POSTs with the same key stored once). Also times a region mask
(computed from the label map, then from the cache) on a CT-RATE-sized phantom with --mask.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from radgenome.review.loadtest import load_check
from radgenome.review.sample import write_sample_output


def mask_timing(tmp: Path) -> dict[str, float]:
    from radgenome.model import read_record
    from radgenome.review.volumes import Volumes

    out = tmp / "big"
    write_sample_output(out, n_cases=1, shape=(512, 512, 300), spacing=(0.7, 0.7, 1.5), qa=False)
    rec = read_record(next((out / "cases").glob("*.json")))
    vols = Volumes(out, {rec.stem: rec})
    t0 = time.perf_counter()
    first = vols.mask(rec.stem, "lung/lung/left lung")
    t1 = time.perf_counter()
    vols.mask(rec.stem, "lung/lung/left lung")
    t2 = time.perf_counter()
    return {"mask_first_s": round(t1 - t0, 3), "mask_cached_ms": round((t2 - t1) * 1000, 3),
            "mask_bytes": len(first.data)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--db", help="SQLAlchemy URL (default: a new SQLite file in a temporary folder)")
    ap.add_argument("--retry-rate", type=float, default=0.05, help="share of POSTs re-sent with the same key")
    ap.add_argument("--mask", action="store_true", help="also time a region mask on a 512x512x300 phantom")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out = tmp / "out"
        write_sample_output(out, n_cases=10, shape=(40, 40, 32), spacing=(8.0, 8.0, 9.0))
        url = args.db or f"sqlite:///{tmp / 'review.sqlite'}"
        check = load_check(out, url, reviewers=args.reviewers, seconds=args.seconds, retry_rate=args.retry_rate)
        figures = dict(check.figures)
        figures.update({
            "db": url.split(":", 1)[0],
            "stored": check.stored,
            "missing_keys": check.missing_keys,
            "unacknowledged_rows": check.unacknowledged_rows,
            "exactly_once": check.stored == figures["decisions_acknowledged"] and check.missing_keys == 0
            and check.unacknowledged_rows == 0 and figures["retry_mismatches"] == 0,
        })
        if args.mask:
            figures.update(mask_timing(tmp))
    print(f"{figures['reviewers']} reviewers x {figures['seconds']} s on {figures['db']}: "
          f"{figures['decisions_acknowledged']} decisions ({figures['decisions_per_s']}/s), "
          f"POST p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms; "
          f"stored {figures['stored']}, lost {figures['missing_keys']}, retries {figures['retries_same_key']} "
          f"(stored once: {figures['retry_mismatches'] == 0}), errors {figures['errors']}")
    print(json.dumps(figures, indent=1))
    return 0 if figures["exactly_once"] and figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Review app benchmarks against a real uvicorn server on 127.0.0.1 (SQLite by default, any store with --db).

    python benchmarks/bench_review.py load [--reviewers 20] [--seconds 60] [--db URL] [--retry-rate 0.05]
    python benchmarks/bench_review.py latency [--cases 1300] [--decisions 100000] [--requests 200] [--db URL]
    python benchmarks/bench_review.py mask

``load``: N reviewers (threads with their own tokens) claim items and post decisions for S seconds; 5 % of posts
are re-sent with the same key. Prints decisions/s, POST latency percentiles, and the exactly-once check:
acknowledged = stored, no key lost or stored twice, no row without an acknowledged key, retries stored once,
each reviewer's counter equal to their rows.

``latency``: a build of generated reports (``--cases``, ~65 sentence and QA items each, dataset tables written
by the build's writer, no CTs), a store seeded with ``--decisions`` decisions by 20 reviewers (every item read by
its readers, the rest as replaced history), then sequential requests by one reviewer: p50/p95/max of
``GET /api/items/{id}``, ``GET /api/progress``, ``POST /api/decisions``, ``GET /api/queue`` and
``POST /api/queue/claim``.

``mask``: a region mask from a CT-RATE-sized label map, first time and from the cache.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.review.load_driver import Budget, load_check, start_server, stop_server
from tests.review.sample_output import write_sample_output

VERDICTS = ("accept", "accept", "accept", "reject")


# -------------------------------------------------------------------------------------------------- load
def run_load(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out = tmp / "out"
    write_sample_output(out, n_cases=10, shape=(40, 40, 32), spacing=(8.0, 8.0, 9.0))
    url = args.db or f"sqlite:///{tmp / 'review.sqlite'}"
    check = load_check(out, url, Budget(seconds=args.seconds), reviewers=args.reviewers,
                       retry_rate=args.retry_rate)
    f = dict(check.figures)
    f.update({
        "db": url.split(":", 1)[0],
        "stored": check.stored,
        "missing_keys": check.missing_keys,
        "duplicate_keys": check.duplicate_keys,
        "unacknowledged_rows": check.unacknowledged_rows,
        "counters_match": check.counters_match,
    })
    f["exactly_once"] = (check.stored == f["decisions_acknowledged"] and not check.missing_keys
                         and not check.duplicate_keys and not check.unacknowledged_rows
                         and f["retry_mismatches"] == 0 and check.counters_match)
    print(f"{f['reviewers']} reviewers x {f['seconds']} s on {f['db']}: {f['decisions_acknowledged']} decisions "
          f"acknowledged ({f['decisions_per_s']}/s), stored {f['stored']}, lost {f['missing_keys']}, stored twice "
          f"{f['duplicate_keys']}, retries {f['retries_same_key']} (stored once: {f['retry_mismatches'] == 0}), "
          f"errors {f['errors']}; POST p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms")
    return f


# ----------------------------------------------------------------------------------------------- latency
def write_report_build(out: Path, n_cases: int) -> None:
    """Case records of ``n_cases`` generated reports (rules engine, text only) and the build's dataset tables."""
    from radgenome.dataset.writers import finalize_build
    from radgenome.model import CaseRecord, Report, write_record
    from radgenome.synth.reports import generate_reports
    from radgenome.text.engine import RulesBackend

    backend = RulesBackend()
    records = []
    for r in generate_reports(n_cases, seed=1, volume_prefix="valid"):
        analysis = backend.analyze(Report(volume=r.volume, findings=r.findings_text, impressions=r.impressions_text))
        rec = CaseRecord(stem=r.volume.removesuffix(".nii.gz"), split="validation", analysis=analysis)
        write_record(rec, out / "cases" / f"{rec.stem}.json")
        records.append(rec)
    finalize_build(out, records, default_split="validation")


def seed_decisions(url: str, tokens: dict[str, str], n_decisions: int, leave_free: float = 0.02) -> dict[str, int]:
    """Every item but the last ``leave_free`` share read by its readers (round robin over the reviewers), plus
    replaced history rows up to ``n_decisions``; item states and counters as the app keeps them."""
    from sqlalchemy import insert, select

    from radgenome.review.decisions import signature
    from radgenome.review.store import Assignment, Decision, Item, ReviewerStats, Store, User

    rng = random.Random(0)
    store = Store(url)
    with store.read() as s:
        items = s.execute(select(Item.id, Item.required, Item.text).order_by(Item.order)).all()
        uids = [u.id for u in s.scalars(select(User).where(User.name.in_(list(tokens))).order_by(User.name))]
    now = store.now()
    taken = items[: int(len(items) * (1 - leave_free))]
    reads = [(iid, (k + slot * 7) % len(uids), slot) for k, (iid, req, _t) in enumerate(taken) for slot in range(req)]
    history = max(0, n_decisions - len(reads))
    rows: list[dict[str, Any]] = []
    for h in range(history):  # earlier decisions the same readers later replaced
        iid, u, _slot = reads[rng.randrange(len(reads))]
        rows.append(dict(item_id=iid, user_id=uids[u], key=f"seed-h{h:08d}", request_hash="", verdict="reject",
                         text=None, path=None, node=None, mask_wrong=False, comment="", adjudication=False,
                         created_at=now, undone_at=None, replaced_at=now))
    current_index: dict[tuple[str, int], int] = {}
    for k, (iid, u, _slot) in enumerate(reads):
        current_index[(iid, uids[u])] = len(rows)
        rows.append(dict(item_id=iid, user_id=uids[u], key=f"seed-c{k:08d}", request_hash="",
                         verdict=VERDICTS[rng.randrange(len(VERDICTS))], text=None, path=None, node=None,
                         mask_wrong=False, comment="", adjudication=False, created_at=now, undone_at=None,
                         replaced_at=None))
    with store.write_engine.begin() as c:
        for i in range(0, len(rows), 20000):
            c.execute(insert(Decision), rows[i : i + 20000])
    with store.write() as s:
        ids = dict(s.execute(select(Decision.key, Decision.id)).all())
        assignments = []
        per_item: dict[str, list[Decision]] = defaultdict(list)
        for (iid, uid), idx in current_index.items():
            row = rows[idx]
            assignments.append(dict(item_id=iid, user_id=uid, slot=len(per_item[iid]), created_at=now,
                                    expires_at=now, decision_id=ids[row["key"]]))
            per_item[iid].append(Decision(verdict=row["verdict"], text=None, path=None))
        for i in range(0, len(assignments), 20000):
            s.execute(insert(Assignment), assignments[i : i + 20000])
        for item in s.scalars(select(Item)):
            ds = per_item.get(item.id)
            if not ds:
                continue
            item.assigned = item.reads = len(ds)
            item.open = item.assigned < item.required
            item.complete = item.reads >= item.required
            item.disagreement = item.complete and len({signature(d) for d in ds}) > 1
        decided: dict[int, int] = defaultdict(int)
        stored: dict[int, int] = defaultdict(int)
        for (_iid, uid) in current_index:
            decided[uid] += 1
        for row in rows:
            stored[row["user_id"]] += 1
        for st in s.scalars(select(ReviewerStats).where(ReviewerStats.user_id.in_(uids))):
            st.decided, st.decisions = decided[st.user_id], stored[st.user_id]
    store.dispose()
    return {"items": len(items), "reads_seeded": len(reads), "decisions_seeded": len(rows)}


def _pct(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"n": len(v), "p50_ms": round(v[len(v) // 2] * 1000, 1),
            "p95_ms": round(v[min(len(v) - 1, int(0.95 * len(v)))] * 1000, 1), "max_ms": round(v[-1] * 1000, 1)}


def run_latency(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from radgenome.review.app import create_app
    from radgenome.review.store import Store, add_user

    out = tmp / "out"
    t0 = time.perf_counter()
    write_report_build(out, args.cases)
    t_build = time.perf_counter() - t0
    url = args.db or f"sqlite:///{tmp / 'review.sqlite'}"
    store = Store(url)
    tokens = {f"rev{i:02d}": add_user(store, f"rev{i:02d}") for i in range(20)}
    store.dispose()
    t0 = time.perf_counter()
    create_app(out, url).state.ctx.store.dispose()  # items into the store (what the server does at start)
    t_sync = time.perf_counter() - t0
    seeded = seed_decisions(url, tokens, args.decisions)
    proc, base = start_server(out, url, timeout=600)
    lat: dict[str, list[float]] = defaultdict(list)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['rev03']}"}, timeout=120) as c:
            def timed(name: str, method: str, url_: str, **kw: Any) -> httpx.Response:
                t = time.perf_counter()
                r = c.request(method, url_, **kw)
                lat[name].append(time.perf_counter() - t)
                if r.status_code >= 400:
                    raise RuntimeError(f"{method} {url_}: {r.status_code} {r.text[:200]}")
                return r

            mine = timed("claim", "POST", "/api/queue/claim", json={"limit": 20}).json()["items"]
            decided = c.get("/api/queue", params={"state": "decided", "limit": 100}).json()["items"]
            ids = [i["id"] for i in mine] + [i["id"] for i in decided]
            for n in range(args.requests):
                item = ids[n % len(ids)]
                timed("item", "GET", f"/api/items/{item}")
                timed("decision", "POST", "/api/decisions",
                      json={"item_id": item, "key": f"bench-{n:06d}-{time.time_ns() % 10**9}", "verdict": "accept"})
                timed("progress", "GET", "/api/progress")
                if n % 4 == 0:
                    timed("queue", "GET", "/api/queue")
                    timed("claim", "POST", "/api/queue/claim", json={"limit": 1})
    finally:
        stop_server(proc)
    figures = {name: _pct(v) for name, v in lat.items()}
    result = {"db": url.split(":", 1)[0], "cases": args.cases, **seeded, "build_s": round(t_build, 1),
              "sync_s": round(t_sync, 1), "latency": figures}
    print(f"{seeded['decisions_seeded']} decisions, {seeded['items']} items on {result['db']}:")
    for name, f in figures.items():
        print(f"  {name:9s} p50 {f['p50_ms']:7.1f} ms   p95 {f['p95_ms']:7.1f} ms   max {f['max_ms']:7.1f} ms"
              f"  (n={f['n']})")
    return result


# -------------------------------------------------------------------------------------------------- mask
def run_mask(tmp: Path) -> dict[str, Any]:
    from radgenome.review.sources import CaseIndex
    from radgenome.review.volumes import Volumes

    out = tmp / "big"
    write_sample_output(out, n_cases=1, shape=(512, 512, 300), spacing=(0.7, 0.7, 1.5))
    cases = CaseIndex(out)
    stem = next(iter(cases.stems))
    vols = Volumes(out, cases)
    t0 = time.perf_counter()
    first = vols.mask(stem, "lung/lung/left lung")
    t1 = time.perf_counter()
    vols.mask(stem, "lung/lung/left lung")
    t2 = time.perf_counter()
    f = {"mask_first_s": round(t1 - t0, 3), "mask_cached_ms": round((t2 - t1) * 1000, 3), "mask_bytes": len(first.data)}
    print(f"region mask on 512x512x300: first {f['mask_first_s']} s, cached {f['mask_cached_ms']} ms")
    return f


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    load = sub.add_parser("load")
    load.add_argument("--reviewers", type=int, default=20)
    load.add_argument("--seconds", type=float, default=60.0)
    load.add_argument("--retry-rate", type=float, default=0.05, help="share of POSTs re-sent with the same key")
    load.add_argument("--db", help="SQLAlchemy URL of an empty store (default: a new SQLite file)")
    latency = sub.add_parser("latency")
    latency.add_argument("--cases", type=int, default=1300)
    latency.add_argument("--decisions", type=int, default=100_000)
    latency.add_argument("--requests", type=int, default=200)
    latency.add_argument("--db", help="SQLAlchemy URL of an empty store (default: a new SQLite file)")
    sub.add_parser("mask")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.mode == "load":
            figures = run_load(args, tmp)
            ok = figures["exactly_once"] and figures["errors"] == 0
        elif args.mode == "latency":
            figures = run_latency(args, tmp)
            ok = True
        else:
            figures = run_mask(tmp)
            ok = True
    print(json.dumps(figures, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

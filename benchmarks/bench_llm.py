"""Throughput of the LLM text backend against the scripted local server.

For each concurrency limit (default 1, 8, 32) a fresh cache is used and every findings sentence of the
generated reports is sent (mode ``llm``); the server answers after a fixed latency. Prints requests/s and
reports/s, then re-runs the last setting on its warm cache and prints the cache hit rate.

    python3 benchmarks/bench_llm.py [--reports 60] [--latency-ms 20] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from radgenome.model import Report, ReportAnalysis, Section, Sentence
from radgenome.testing import Reply, ScriptedServer
from radgenome.text.llm import LLMBackend, LLMSettings
from radgenome.text.measure import parse_measurements

LOBES = ("right lung upper lobe", "right lung middle lobe", "right lung lower lobe", "left lung upper lobe")
TEMPLATES = (
    ("A {n} mm nodule is seen in the {lobe}.", "nodule"),
    ("Ground glass opacity in the {lobe}, {n} mm in diameter.", "ground glass opacity"),
    ("Linear atelectasis in the {lobe}, measuring {n} mm.", "atelectasis"),
    ("A {n} mm calcified granuloma in the {lobe}.", "calcified granuloma"),
)
COMMON = ("No pleural effusion was observed.", "Heart contour and size are normal.")


def make_reports(n: int) -> list[ReportAnalysis]:
    """``n`` reports of 6 sentences: 4 distinct per report (for n <= 200), 2 shared by all (as in real CT reports)."""
    out = []
    for r in range(n):
        volume = f"train_{r}_a_1"
        texts = [t.format(n=3 + (r // 4) % 50, lobe=LOBES[(r + k) % 4]) for k, (t, _p) in enumerate(TEMPLATES)]
        texts += list(COMMON)
        sentences = [
            Sentence(
                volume=volume,
                section=Section.FINDINGS,
                index=i,
                text=t,
                start=0,
                end=len(t),
                nodes=("lung",),
                grounding_confidence=0.3,
                measurements=parse_measurements(t),
            )
            for i, t in enumerate(texts)
        ]
        out.append(ReportAnalysis(report=Report(volume=volume, findings=" ".join(texts)), sentences=sentences))
    return out


def answer_for(sentence: str) -> Reply:
    lobe = next((lobe for lobe in LOBES if lobe in sentence), None)
    phrase = next((p for t, p in TEMPLATES if p in sentence.lower()), None)
    size = parse_measurements(sentence)
    findings = [{"phrase": phrase, "polarity": "present", "size_text": size[0].text if size else None}]
    if lobe and phrase:
        return Reply.answer([lobe], findings)
    if "effusion" in sentence:
        return Reply.answer(["pleura"], [{"phrase": "pleural effusion", "polarity": "absent"}])
    return Reply.answer(["heart"])


def run(server: ScriptedServer, reports: list[ReportAnalysis], concurrency: int, cache: Path) -> dict[str, float]:
    settings = LLMSettings(
        base_url=server.url, model="bench", mode="llm", concurrency=concurrency, timeout_s=30, cache_dir=cache
    )
    backend = LLMBackend(settings)
    t0 = time.perf_counter()
    out = backend.refine_many(reports)
    elapsed = time.perf_counter() - t0
    backend.close()
    answered = sum(s.backend == "llm" for a in out for s in a.sentences)
    st = backend.stats
    return {
        "seconds": elapsed,
        "requests": st.requests,
        "req_per_s": st.requests / elapsed if elapsed else 0.0,
        "reports_per_s": len(reports) / elapsed if elapsed else 0.0,
        "cache_hit_rate": st.cache_hit_rate,
        "answered": answered,
        "fallbacks": sum(st.fallbacks.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=60)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = ap.parse_args()

    reports = make_reports(args.reports)
    n_sent = sum(len(a.sentences) for a in reports)
    n_unique = len({s.text for a in reports for s in a.sentences})
    print(
        f"{args.reports} reports, {n_sent} sentences ({n_unique} distinct), "
        f"server latency {args.latency_ms:g} ms per request"
    )
    print(f"{'concurrency':>11} {'requests':>9} {'seconds':>8} {'req/s':>8} {'reports/s':>10} {'fallbacks':>9}")
    with (
        ScriptedServer(default=answer_for, latency_s=args.latency_ms / 1000.0) as server,
        tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp,
    ):
        last_cache = Path(tmp)
        for c in args.concurrency:
            last_cache = Path(tmp) / f"c{c}"
            r = run(server, reports, c, last_cache)
            print(
                f"{c:>11} {r['requests']:>9.0f} {r['seconds']:>8.2f} {r['req_per_s']:>8.1f} "
                f"{r['reports_per_s']:>10.1f} {r['fallbacks']:>9.0f}"
            )
        before = server.count()
        r = run(server, reports, args.concurrency[-1], last_cache)
        print(
            f"re-run on the warm cache: {server.count() - before} requests, "
            f"cache hit rate {100 * r['cache_hit_rate']:.1f}%, {r['reports_per_s']:.0f} reports/s"
        )


if __name__ == "__main__":
    main()

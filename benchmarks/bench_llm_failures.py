"""How fast and how clearly ``radgenome text --backend llm`` fails when the model server does not work.

Runs the real command line (a subprocess, default settings: only ``--llm-base-url``, ``--llm-model`` and a
throw-away ``--llm-cache`` are given) on the first 50 reports with findings of the shared CT-RATE reports
(``../shared/benchmarks/ctrate/reports.csv``), against scripted servers on 127.0.0.1:

- server down (connection refused), always-500 (every endpoint), hung server (accepts, never answers), off-schema
  answers — the issue's four cases (target: each under 30 s, non-zero exit);
- and, for the record: a wrong model name, a bad key, a base URL without /v1, 500s and hangs that start only after
  the preflight passed, a healthy server, and Ctrl-C against requests in flight (time from SIGINT to exit).

Prints per scenario: exit status, wall time, chat requests the server received, and the command's last line.

    python3 benchmarks/bench_llm_failures.py [--reports N] [--only SCENARIO ...]
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from radgenome.testing import Reply, ScriptedServer
from radgenome.text.llm.client import PREFLIGHT_PROMPT

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO.parent / "shared" / "benchmarks" / "ctrate" / "reports.csv"
MODEL = "bench-model"
SRC = REPO / "src"


@dataclass
class Scenario:
    name: str
    server: Callable[[], ScriptedServer | None]
    """A started server, or None for "server down"."""
    base_url: Callable[[str], str] = lambda url: url
    env: dict[str, str] | None = None
    interrupt: bool = False


def _down() -> None:
    return None


def _started(srv: ScriptedServer) -> ScriptedServer:
    return srv.start()


def _ok_preflight(default: Callable[[str], Reply], **kw: object) -> ScriptedServer:
    return ScriptedServer({PREFLIGHT_PROMPT: [Reply.answer(["others"])]}, default=default, **kw)  # type: ignore[arg-type]


SCENARIOS: list[Scenario] = [
    Scenario("server down", _down),
    Scenario("always 500", lambda: _started(ScriptedServer(default=lambda _s: Reply.error(500, message="boom"),
                                                           models_reply=Reply.error(500, message="boom")))),
    Scenario("hung server", lambda: _started(ScriptedServer(default=lambda _s: Reply.hung(),
                                                            models_reply=Reply.hung()))),
    Scenario("off-schema answers", lambda: _started(ScriptedServer(
        default=lambda _s: Reply.raw('{"region": "lung", "abnormal": true}')))),
    Scenario("wrong model name", lambda: _started(ScriptedServer(models=["other-model"]))),
    Scenario("bad key", lambda: _started(ScriptedServer(api_key="secret")),
             env={"OPENAI_API_KEY": "wrong"}),
    Scenario("base URL without /v1", lambda: _started(ScriptedServer()),
             base_url=lambda url: url.removesuffix("/v1")),
    Scenario("500 after the preflight", lambda: _started(_ok_preflight(lambda _s: Reply.error(500, message="boom")))),
    Scenario("hang after the preflight", lambda: _started(_ok_preflight(lambda _s: Reply.hung()))),
    Scenario("healthy server", lambda: _started(ScriptedServer(default=lambda _s: Reply.answer(["others"])))),
    Scenario("Ctrl-C", lambda: _started(_ok_preflight(lambda _s: Reply.hung())), interrupt=True),
]


def first_reports(n: int, dest: Path) -> Path:
    with REPORTS.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if (r.get("Findings_EN") or "").strip()][:n]
        fields = reader.fieldnames or []
    with dest.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return dest


def run(sc: Scenario, reports: Path, tmp: Path) -> tuple[int, float, int, str]:
    srv = sc.server()
    if srv is None:
        with ScriptedServer() as gone:
            url = gone.url  # a port nobody listens on any more
    else:
        url = srv.url
    env = {**os.environ, **(sc.env or {}), "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if sc.env is None:
        env.pop("OPENAI_API_KEY", None)
    out = tmp / sc.name.replace(" ", "_").replace("/", "")
    cmd = [sys.executable, "-c", "from radgenome.cli import app; app()", "text", str(reports), "-o", str(out),
           "--backend", "llm", "--llm-base-url", sc.base_url(url), "--llm-model", MODEL,
           "--llm-cache", str(out / "cache")]
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if sc.interrupt:
            assert srv is not None
            srv.wait_for(lambda s: s.in_flight >= 8, timeout_s=120)
            t0 = time.perf_counter()  # from the signal on
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=3600)
        seconds = time.perf_counter() - t0
        requests = srv.count() if srv is not None else 0
    finally:
        if srv is not None:
            srv.stop()
    lines = [line for line in err.splitlines() if line.strip()]
    return proc.returncode, seconds, requests, lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=50)
    ap.add_argument("--only", nargs="*", help="Scenario names to run (default: all).")
    args = ap.parse_args()
    if not REPORTS.is_file():
        sys.exit(f"skipped: {REPORTS} is absent")
    with tempfile.TemporaryDirectory(prefix="bench-llm-failures-") as tmp_name:
        tmp = Path(tmp_name)
        reports = first_reports(args.reports, tmp / "reports.csv")
        print(f"{args.reports} reports with findings from {REPORTS}; `radgenome text --backend llm`, default settings")
        print(f"{'scenario':<28} {'exit':>4} {'seconds':>8} {'requests':>8}  last line")
        for sc in SCENARIOS:
            if args.only and sc.name not in args.only:
                continue
            code, seconds, requests, last = run(sc, reports, tmp)
            label = f"{sc.name} (SIGINT to exit)" if sc.interrupt else sc.name  # 8 requests in flight
            print(f"{label:<28} {code:>4} {seconds:>8.2f} {requests:>8}  {last[:260]}", flush=True)


if __name__ == "__main__":
    main()

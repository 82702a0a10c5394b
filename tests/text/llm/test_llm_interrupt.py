"""Ctrl-C during the LLM pass: a real SIGINT to a ``radgenome text`` subprocess whose requests hang on the
scripted server. Everything waits for conditions (requests in flight, cache files, process exit), never for time.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import radgenome
from radgenome.testing import Reply, ScriptedServer
from radgenome.text.llm.client import PREFLIGHT_PROMPT

pytest.importorskip("httpx")

ANSWERED = {
    "No pleural effusion.": Reply.answer(["pleura"], [{"phrase": "pleural effusion", "polarity": "absent"}]),
    "Heart size is normal.": Reply.answer(["heart"]),
}
HANGING = ("A 5 mm nodule is seen in the right upper lobe.", "There is mild emphysema.", "Stable nodule.")
SAFETY_S = 120.0
"""Only a safety net for a broken run: no assertion depends on it."""


def _reports(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["VolumeName", "Findings_EN", "Impressions_EN"])
        w.writerow(["valid_1_a_1", f"{HANGING[0]} {HANGING[1]} No pleural effusion.", HANGING[2]])
        w.writerow(["valid_2_a_1", "No pleural effusion. Heart size is normal.", ""])
    return path


def test_ctrl_c_cancels_requests_in_flight_exits_130_and_keeps_the_cache(tmp_path: Path) -> None:
    script = {PREFLIGHT_PROMPT: [Reply.answer(["others"])], **{k: [v] for k, v in ANSWERED.items()}}
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    src = str(Path(radgenome.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with ScriptedServer(script, default=lambda _s: Reply.hung()) as srv:
        cmd = [sys.executable, "-c", "from radgenome.cli import app; app()", "text", str(_reports(tmp_path / "r.csv")),
               "-o", str(out), "--backend", "llm", "--llm-base-url", srv.url, "--llm-model", "m",
               "--llm-cache", str(cache), "--llm-timeout", "600", "--llm-max-retries", "0"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # every question asked, the three hanging ones in flight, the two answered ones done
            assert srv.wait_for(lambda s: s.count() == 5 and s.in_flight == 3, timeout_s=SAFETY_S), proc.poll()
            while len(list(cache.glob("??/*.json"))) < 2:  # answers are cached as they arrive
                assert proc.poll() is None
                srv.wait_for(lambda s: False, timeout_s=0.05)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=SAFETY_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # the client closed the three requests in flight (the server saw each connection end)
        assert srv.wait_for(lambda s: s.disconnects == 3, timeout_s=SAFETY_S)
        assert srv.count() == 5  # and sent nothing more
    assert proc.returncode == 130, stderr
    assert "interrupted: nothing written; the LLM answers received so far are cached" in stderr
    assert "Traceback" not in stderr
    assert len(list(cache.glob("??/*.json"))) == 2 and not list(cache.rglob("*.tmp"))
    assert not (out / "sentences.parquet").exists()

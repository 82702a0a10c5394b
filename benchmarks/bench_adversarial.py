"""Adversarial inputs and faults against every command: how many are handled cleanly, with no traceback, no lost or
duplicated row and no formula cell in any CSV written.

    python benchmarks/bench_adversarial.py [--workdir DIR] [--keep] [--verbose]

Everything is generated here (nothing is read from disk but what this script writes): report rows (unsafe
VolumeNames, unbalanced quotes, legacy bytes, empty reports, duplicates by stem, formula-leading text, ...), CT
volumes (truncated, corrupt, decompression bombs, FIFOs, folders and links named like volumes, odd but valid
encodings, ...) and faults (OUT entries of the wrong kind, a full disk at every writer, read-only and blocked
targets, FIFO inputs, corrupt records / label maps / sidecars / manifests on resume, stale temp files, a second
build while a first holds the lock, paths across folders). Commands run in this process through typer's
CliRunner (faults are injected by patching the writers), so a traceback that would reach a user shows up as an
exception or a ``Traceback`` in the output.

A probe is *handled cleanly* when the command ends with the expected exit status (0, 3 or 1), prints no
traceback, names the bad input with a reason (a fatal condition as exactly one ``fatal:`` line), and keeps every
good row exactly once. tests/test_adversarial.py runs the same suite and asserts the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from isal import igzip

HEADER = ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"]
FORMULA = ("=", "+", "-", "@", "\t", "\r")
HANG_SECONDS = 120.0
"""A command still running after this long is stuck (the harness then releases its FIFOs)."""


# ------------------------------------------------------------------------------------------------ bookkeeping
@dataclass
class Probe:
    category: str
    name: str
    clean: bool
    traceback: bool
    detail: str = ""


@dataclass
class Tally:
    probes: list[Probe] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    formula_cells: list[str] = field(default_factory=list)
    csv_files: int = 0
    csv_cells: int = 0

    def add(self, category: str, name: str, clean: bool, traceback: bool, detail: str = "") -> None:
        self.probes.append(Probe(category, name, clean and not traceback, traceback, detail))

    def figures(self) -> dict[str, Any]:
        by_cat: dict[str, list[int]] = {}
        for p in self.probes:
            c = by_cat.setdefault(p.category, [0, 0, 0])
            c[0] += 1
            c[1] += p.clean
            c[2] += p.traceback
        return {
            "tried": len(self.probes),
            "handled_cleanly": sum(p.clean for p in self.probes),
            "tracebacks": sum(p.traceback for p in self.probes),
            "lost_rows": len(self.lost),
            "duplicated_rows": len(self.duplicated),
            "formula_cells": len(self.formula_cells),
            "csv_files_scanned": self.csv_files,
            "csv_cells_scanned": self.csv_cells,
            "by_category": {k: {"tried": v[0], "clean": v[1], "tracebacks": v[2]} for k, v in sorted(by_cat.items())},
            "not_clean": [f"{p.category}/{p.name}: {p.detail}" for p in self.probes if not p.clean],
        }


class Harness:
    def __init__(self, work: Path, hang_seconds: float = HANG_SECONDS) -> None:
        from typer.testing import CliRunner

        from radgenome.cli import app

        self.work = work
        self.hang_seconds = hang_seconds
        self.app = app
        self.runner = CliRunner()
        self.tally = Tally()
        self.outputs: list[Path] = []

    def invoke(self, args: list[str], timeout: float | None = None) -> Any:
        """Run one command; a command still running after ``timeout`` seconds is stuck (on a FIFO, in practice):
        every FIFO of the work folder gets a writer so it can end, and the result says it hung."""
        done: list[Any] = []
        worker = threading.Thread(target=lambda: done.append(self.runner.invoke(self.app, [str(a) for a in args])),
                                  daemon=True)
        worker.start()
        worker.join(self.hang_seconds if timeout is None else timeout)
        if worker.is_alive():
            while worker.is_alive():
                _release_fifos(self.work)
                worker.join(1.0)
            return Hung(done[0].output if done else "")
        return done[0]

    @staticmethod
    def traceback(res: Any) -> bool:
        return "Traceback" in res.output or (res.exception is not None and not isinstance(res.exception, SystemExit))

    def fatal(self, category: str, name: str, res: Any, *must: str) -> None:
        """Expect exit 1 with exactly one ``fatal:`` line containing every ``must``."""
        lines = [line for line in res.output.splitlines() if line.startswith("fatal:")]
        ok = res.exit_code == 1 and len(lines) == 1 and all(m in lines[0] for m in must)
        self.tally.add(category, name, ok, self.traceback(res), "" if ok else f"exit {res.exit_code}: "
                       f"{res.output[-300:]!r}")

    def scan_csvs(self, root: Path) -> None:
        from radgenome.csvcells import is_formula_cell

        for path in sorted(root.rglob("*.csv")):
            if not path.is_file():  # the probes put folders and FIFOs where files should be
                continue
            self.tally.csv_files += 1
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                for row in csv.reader(fh):
                    for cell in row:
                        self.tally.csv_cells += 1
                        if is_formula_cell(cell):
                            self.tally.formula_cells.append(f"{path}: {cell[:40]!r}")


@dataclass
class Hung:
    """The result of a command that blocked until its FIFOs were released."""

    output: str = ""
    exit_code: int = -1
    exception: BaseException | None = None

    def __post_init__(self) -> None:
        self.output = "HUNG (blocked on a FIFO until the harness wrote to it)\n" + self.output


def _release_fifos(work: Path) -> None:
    for path in work.rglob("*"):
        try:
            if stat.S_ISFIFO(path.lstat().st_mode):
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
        except OSError:  # no reader waiting on this one
            pass


@contextlib.contextmanager
def patched(obj: Any, attr: str, value: Any) -> Iterator[None]:
    old = getattr(obj, attr)
    setattr(obj, attr, value)
    try:
        yield
    finally:
        setattr(obj, attr, old)


def enospc(*_: Any, **kw: Any) -> Any:
    path = kw.get("path") or (_[0] if _ else "?")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@contextlib.contextmanager
def enospc_path(path: Any, **_: Any) -> Iterator[Path]:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    yield Path(path)  # pragma: no cover


def first_column(text: str) -> str:
    """The first column of the tables in console output, joined (rich folds a long path over several lines)."""
    return "".join(line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│"))


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def table_rows(out: Path, table: str) -> list[dict[str, str]]:
    from radgenome.csvcells import unescape_cell

    rows: list[dict[str, str]] = []
    for path in sorted((out / "radgenome_files").glob(f"*_{table}.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows.extend({k: unescape_cell(v) for k, v in r.items()} for r in csv.DictReader(fh))
    return rows


# --------------------------------------------------------------------------------------------- report rows
@dataclass
class RowCase:
    name: str
    cells: list[str] | None
    """The row's cells (None: ``raw`` bytes are appended instead)."""
    expect: str
    """``keep`` (used, exact text), ``note`` (used, reported as legacy-encoded) or ``fail`` (named, not used)."""
    marker: str
    """A text that must appear in the problem list (fail/note), or the findings text that must be kept."""
    raw: bytes = b""
    extra_failed: tuple[str, ...] = ()
    """Names of further rows this one makes fail (swallowed rows)."""


def report_row_cases() -> list[RowCase]:
    c: list[RowCase] = []

    def text(i: int) -> str:
        return f"Marker R{i:03d}: the heart is normal. A 4 mm nodule in the left lung upper lobe."

    bad_names = {
        "nul": "adv\x00nul.nii.gz", "len151": "n" * 151, "len300": "n" * 300, "len5000": "n" * 5000,
        "dotdot_path": "../escape.nii.gz", "slash": "a/b.nii.gz", "backslash": "a\\b.nii.gz", "dotdot": "..",
        "dot": ".", "inner_dotdot": "x..y.nii.gz", "eq": "=cmd|' /C calc'!A0", "plus": "+41.nii.gz",
        "minus": "-41.nii.gz", "at": "@SUM(A1)", "space": "case 12.nii.gz", "unicode": "caso_ñ.nii.gz",
        "hidden": ".hidden.nii.gz", "shell": "a;rm -rf.nii.gz", "pipe": "a|b.nii.gz", "quote": 'a"b.nii.gz',
        "newline_name": "a\nb.nii.gz", "tab_inside": "a\tb.nii.gz", "percent": "a%2e%2e.nii.gz",
        "colon": "C:evil.nii.gz", "star": "a*.nii.gz",
    }
    for i, (label, name) in enumerate(bad_names.items()):
        c.append(RowCase(f"name_{label}", [name, "", "", text(i), "Impression."], "fail", repr(name)[1:13]))
    i = len(c)
    c.append(RowCase("empty_name", ["", "", "", text(i), "x"], "fail", "empty VolumeName"))
    c.append(RowCase("blank_name", ["   ", "", "", text(i + 1), "x"], "fail", "empty VolumeName"))
    c.append(RowCase("duplicate_exact", ["adv_good_1.nii.gz", "", "", text(i + 2), "Other."], "fail",
                     "adv_good_1.nii.gz&&duplicate"))
    c.append(RowCase("duplicate_stem", ["adv_good_2", "", "", text(i + 3), "Other."], "fail", "adv_good_2&&duplicate"))
    c.append(RowCase("duplicate_nii", ["adv_good_3.nii", "", "", text(i + 4), "Other."], "fail",
                     "adv_good_3.nii&&duplicate"))
    c.append(RowCase("too_many_fields", ["adv_fields_1.nii.gz", "", "", text(i + 5), "x", "y", "z"], "fail",
                     "fields for"))
    c.append(RowCase("empty_report", ["adv_empty_1.nii.gz", "Cough.", "CT chest.", "", ""], "fail", "empty report"))
    c.append(RowCase("blank_report", ["adv_blank_1.nii.gz", "", "", " \n ", "\t"], "fail", "empty report"))
    c.append(RowCase("html_only_report", ["adv_html_1.nii.gz", "", "", "<br><br>&nbsp;", ""], "fail",
                     "empty report"))
    # unbalanced quotes: the row holding the quote and the rows it swallows all fail, each named
    c.append(RowCase("unbalanced_1", None, "fail", "adv_quote_a.nii.gz",
                     raw=b'adv_quote_a.nii.gz,,,"Marker Q1: open quote,Imp\n'
                         b"adv_quote_b.nii.gz,,,Marker Q2: swallowed.,Imp\n"
                         b'adv_quote_c.nii.gz,,,"Marker Q3: closes it.",Imp\n',
                     extra_failed=("adv_quote_b.nii.gz", "adv_quote_c.nii.gz")))
    c.append(RowCase("unbalanced_2", None, "fail", "adv_quote_d.nii.gz",
                     raw=b'adv_quote_d.nii.gz,,,Marker Q4 fine,"Marker Q5: open impression\n'
                         b'adv_quote_e.nii.gz,,,"Marker Q6: closes.",Imp\n',
                     extra_failed=("adv_quote_e.nii.gz",)))
    # kept rows: formula-leading text in every column, odd characters, big and multi-line fields
    k = 100
    for j, ch in enumerate(FORMULA):
        c.append(RowCase(f"formula_findings_{j}", [f"adv_f{j}.nii.gz", "", "", f"{ch}HYPERLINK(\"http://x\",\"y\") "
                                                   f"Marker K{k + j}: heart normal.", "Normal."], "keep",
                         f"Marker K{k + j}"))
        c.append(RowCase(f"formula_impression_{j}", [f"adv_i{j}.nii.gz", f"{ch}clin", f"{ch}tech",
                                                     f"Marker K{k + 10 + j}: lungs clear.", f"{ch}cmd|' /C calc'!A0"],
                         "keep", f"Marker K{k + 10 + j}"))
    odd = {
        "html": "Marker K130: nodule 5 mm.&nbsp;Heart normal.<br>Liver: 12 mm cyst.",
        "control": "Marker K131: heart\x07 normal.\x1b[31m red\x0b.",
        "zero_width": "Marker K132: heart\u200b normal.\ufeff",
        "emoji": "Marker K133: heart normal 🫀.",
        "rtl": "Marker K134: heart \u202enormal.",
        "crlf_inside": "Marker K135: heart normal.\r\nLungs clear.",
        "cr_inside": "Marker K136: heart normal.\rLungs clear.",
        "quotes": 'Marker K137: the so-called "ground glass" pattern.',
        "mentions_name": "Marker K138: compared with\nadv_good_1.nii.gz the heart is normal.",
        "big": "Marker K139: " + "Linear atelectasis in the right lower lobe. " * 25_000,
        "brackets": "Marker K140: [red]markup[/red] [/] heart normal.",
    }
    for j, (label, t) in enumerate(odd.items()):
        c.append(RowCase(f"text_{label}", [f"adv_o{j}.nii.gz", "", "", t, "Normal."], "keep", t.split(":")[0]))
    c.append(RowCase("short_row", ["adv_short_1.nii.gz", "", "", "Marker K150: heart normal."], "keep",
                     "Marker K150"))
    # legacy bytes: used, each reported
    for j, (word, enc) in enumerate([("Sjögren", "cp1252"), ("5 – 6 mm", "cp1252"), ("it’s", "cp1252"),
                                     ("naïve", "latin-1")]):
        raw = f"adv_legacy_{j}.nii.gz,,,Marker L{j}: {word} heart normal.,Normal.\n".encode(enc)
        c.append(RowCase(f"legacy_{enc}_{j}", None, "note", f"adv_legacy_{j}.nii.gz", raw=raw))
    c.append(RowCase("undefined_cp1252_byte", None, "note", "adv_legacy_9.nii.gz",
                     raw=b"adv_legacy_9.nii.gz,,,Marker L9: odd \x81 byte heart normal.,Normal.\n"))
    return c


GOOD_ROWS = [[f"adv_good_{i}.nii.gz", "", "", f"Marker G{i}: a 5 mm nodule in the right lung upper lobe. Heart normal.",
              "Nodule."] for i in range(1, 6)]


def write_row_table(path: Path, cases: list[RowCase]) -> Path:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(GOOD_ROWS[:3])
    data = buf.getvalue().encode()
    for case in cases:
        if case.cells is not None:
            b = io.StringIO()
            csv.writer(b, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(case.cells)
            data += b.getvalue().encode()
        else:
            data += case.raw
    b = io.StringIO()
    csv.writer(b, lineterminator="\n").writerows(GOOD_ROWS[3:])
    path.write_bytes(data + b.getvalue().encode())
    return path


def problems_of(out: Path, command: str) -> tuple[list[str], list[str]]:
    """(problems, notes) a command wrote down: text_run.json or summary.json."""
    if command == "text":
        log = json.loads((out / "text_run.json").read_text())
        return ([*log.get("row_errors", []), *(f"{f['volume']}: {f['reason']}" for f in log.get("failed", []))],
                log.get("row_warnings", []))
    s = json.loads((out / "summary.json").read_text())
    problems = [f"{f['volume']}: {f['reason']}" for f in s["failures"]]
    problems += [f"{i['volume']} {i['source']}: {i['reason']}" for i in s["issues"] if i["kind"] != "legacy_encoding"]
    notes = [f"{i['volume']} {i['source']}: {i['reason']}" for i in s["issues"] if i["kind"] == "legacy_encoding"]
    return problems, notes


def check_rows(h: Harness, out: Path, command: str, res: Any, cases: list[RowCase]) -> None:
    import pyarrow.parquet as pq

    tb = h.traceback(res)
    if res.exit_code != 3:
        for case in cases:
            h.tally.add(f"rows/{command}", case.name, False, tb, f"exit {res.exit_code}: {res.output[-300:]!r}")
        return
    h.scan_csvs(out)
    problems, notes = problems_of(out, command)
    disorders = [r["Volumename"] for r in table_rows(out, "case_disorders")]
    whole = {r["Volumename"]: r["Sentence"] for r in table_rows(out, "region_report") if not r["Anatomy"]}
    all_csv_text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*.csv"))
    parquet = out / ("sentences.parquet" if command == "text" else "dataset/grounded_sentences.parquet")
    parquet_text = "\n".join(str(r["text"]) for r in pq.read_table(parquet).to_pylist())
    for name in [r[0] for r in GOOD_ROWS]:
        n = disorders.count(name)
        if n == 0:
            h.tally.lost.append(f"{command}: {name}")
        if n > 1:
            h.tally.duplicated.append(f"{command}: {name} x{n}")
    for case in cases:
        if case.expect == "fail":
            names = [case.marker, *case.extra_failed]
            named = all(any(all(part in p for part in m.split("&&")) for p in problems) for m in names)
            own_text = case.cells[3] if case.cells else ""
            leaked = bool(own_text) and own_text.split(":")[0] in all_csv_text + parquet_text
            leaked |= any(f"Marker Q{q}" in all_csv_text + parquet_text for q in range(1, 7)) and not case.cells
            ok = named and not leaked
            h.tally.add(f"rows/{command}", case.name, ok, tb, "" if ok else f"named={named} leaked={leaked}")
        else:
            name = case.cells[0] if case.cells else case.marker
            n = disorders.count(name)
            ok = n == 1
            if n == 0:
                h.tally.lost.append(f"{command}: {name}")
            if n > 1:
                h.tally.duplicated.append(f"{command}: {name} x{n}")
            if case.cells and case.expect == "keep" and case.name.startswith("formula_findings"):
                ok &= " ".join(case.cells[3].split()) == whole.get(name)  # exact text back through our reader
            if case.expect == "note":
                ok &= any(case.marker in note for note in notes)
            h.tally.add(f"rows/{command}", case.name, ok, tb, "" if ok else f"count={n}")


def run_rows(h: Harness) -> None:
    cases = report_row_cases()
    reports = write_row_table(h.work / "rows.csv", cases)
    out = h.work / "rows_text"
    check_rows(h, out, "text", h.invoke(["text", reports, "-o", out]), cases)
    out = h.work / "rows_build"
    res = h.invoke(["build", "--reports", reports, "--text-only", "-o", out, "--no-progress", "--reconstructions",
                    "all"])  # adv_good_2 is not a second reconstruction of adv_good_1 here
    check_rows(h, out, "build", res, cases)


# ------------------------------------------------------------------------------------------------- volumes
@dataclass
class VolumeCase:
    name: str
    stem: str
    make: Callable[[Path], None]
    """Writes the input at the path it is given (``<volumes>/<stem>.nii.gz``)."""
    expect: str
    """``fail`` (the case fails at load, or its entry is refused) or ``keep`` (built)."""
    filename: str = ""

    @property
    def file(self) -> str:
        return self.filename or f"{self.stem}.nii.gz"


def nifti_header(shape: tuple[int, ...], dtype: Any = np.int16, **fields: Any) -> bytes:
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr["vox_offset"] = 352
    hdr.set_sform(np.diag([6.0, 6.0, 8.0, 1.0]), code=1)
    for k, v in fields.items():
        hdr[k] = v
    return hdr.binaryblock + b"\x00" * 4


def sform_header(arr: np.ndarray, sform: np.ndarray) -> bytes:
    """A NIfTI-1 header with this sform and no qform (nibabel refuses to decompose a broken affine)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(arr.shape)
    hdr.set_data_dtype(arr.dtype)
    hdr["vox_offset"] = 352
    hdr["sform_code"] = 1
    hdr["qform_code"] = 0
    hdr["srow_x"], hdr["srow_y"], hdr["srow_z"] = sform[0], sform[1], sform[2]
    return hdr.binaryblock + b"\x00" * 4


def gz_write(path: Path, *chunks: bytes) -> None:
    with igzip.open(path, "wb", compresslevel=1) as fh:
        for chunk in chunks:
            fh.write(chunk)


def volume_cases(good: Path) -> list[VolumeCase]:
    img = nib.load(good)
    hu = np.asarray(img.dataobj, dtype=np.int16)
    aff = img.affine
    raw = good.read_bytes()

    def save(arr: np.ndarray, affine: np.ndarray, cls: Any = nib.Nifti1Image) -> Callable[[Path], None]:
        def make(p: Path) -> None:
            nib.save(cls(arr, affine), p)
        return make

    def bytes_(data: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(data)

    def gz(*chunks: bytes) -> Callable[[Path], None]:
        return lambda p: gz_write(p, *chunks)

    def fifo(p: Path) -> None:
        os.mkfifo(p)

    def sock(p: Path) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()

    flipped = bytearray(raw)
    flipped[len(raw) // 2 : len(raw) // 2 + 64] = b"\xff" * 64
    data = hu.tobytes(order="F")
    degenerate = aff.copy()
    degenerate[:3, 0] = 0
    nan_aff = aff.copy()
    nan_aff[0, 3] = np.nan
    anis = np.diag([0.5, 0.5, 30.0, 1.0])
    be = nib.Nifti1Image(hu.astype(">i2"), aff)
    plain = nib.Nifti1Image(hu, aff)
    plain.header["vox_offset"] = 352
    plain_header = plain.header.binaryblock + b"\x00" * 4
    f64 = hu.astype(np.float64)
    nan_vol = hu.astype(np.float32)
    nan_vol[0, 0, 0] = np.nan
    inf_vol = hu.astype(np.float32)
    inf_vol[1, 1, 1] = np.inf
    cases = [
        VolumeCase("truncated_gzip", "v_trunc_gz", bytes_(raw[: len(raw) // 2]), "fail"),
        VolumeCase("corrupt_gzip", "v_corrupt_gz", bytes_(bytes(flipped)), "fail"),
        VolumeCase("not_gzip", "v_not_gz", bytes_(b"plain text, not gzip\n" * 50), "fail"),
        VolumeCase("empty_file", "v_empty", bytes_(b""), "fail"),
        VolumeCase("gzip_of_text", "v_gz_text", gz(b"hello world\n" * 100), "fail"),
        VolumeCase("two_d", "v_2d", save(hu[:, :, 0], aff), "fail"),
        VolumeCase("four_d", "v_4d", save(np.stack([hu, hu], axis=-1), aff), "fail"),
        VolumeCase("nan_voxels", "v_nan", save(nan_vol, aff), "fail"),
        VolumeCase("inf_voxels", "v_inf", save(inf_vol, aff), "fail"),
        VolumeCase("constant", "v_const", save(np.full(hu.shape, -1000, np.int16), aff), "fail"),
        VolumeCase("all_zero", "v_zero", save(np.zeros(hu.shape, np.int16), aff), "fail"),
        VolumeCase("tiny", "v_tiny", save(hu[:8, :8, :8], aff), "fail"),
        VolumeCase("anisotropy", "v_anis", save(hu, anis), "fail"),
        VolumeCase("mr_like", "v_mr", save((np.abs(hu.astype(np.int32)) % 2000).astype(np.int16) + 5, aff), "fail"),
        VolumeCase("int8_range", "v_int8", save((hu // 16).astype(np.int8), aff), "fail"),
        VolumeCase("bomb_1024_cubed", "v_bomb", gz(nifti_header((1024, 1024, 1024)), *([b"\x00" * 2**24] * 2)),
                   "fail"),
        VolumeCase("bomb_flat", "v_bomb_flat", gz(nifti_header((32_767, 32_767, 4))), "fail"),
        VolumeCase("bomb_bytes", "v_bomb_bytes", gz(nifti_header((512, 512, 700), np.complex128)), "fail"),
        VolumeCase("short_data_gz", "v_short_gz", gz(nifti_header(hu.shape), data[: len(data) // 3]), "fail"),
        VolumeCase("short_data_nii", "v_short_nii", bytes_(nifti_header(hu.shape) + data[:1000]), "fail"),
        VolumeCase("degenerate_affine", "v_degenerate", gz(sform_header(hu, degenerate), data), "fail"),
        VolumeCase("nan_affine", "v_nan_aff", gz(sform_header(hu, nan_aff), data), "fail"),
        VolumeCase("bad_datatype", "v_bad_dtype", gz(nifti_header(hu.shape)[:70] + b"\x39\x30"
                                                     + nifti_header(hu.shape)[72:] + data), "fail"),
        VolumeCase("bad_sizeof_hdr", "v_bad_sizeof", gz(b"\x01\x02\x03\x04" + nifti_header(hu.shape)[4:] + data),
                   "fail"),
        VolumeCase("fifo", "v_fifo", fifo, "fail"),
        VolumeCase("folder", "v_folder", lambda p: p.mkdir(), "fail"),
        VolumeCase("dangling_link", "v_dangling", lambda p: p.symlink_to(p.with_name("nowhere.nii.gz")), "fail"),
        VolumeCase("link_loop", "v_loop", lambda p: p.symlink_to(p), "fail"),
        VolumeCase("socket", "v_socket", sock, "fail"),
        # odd but valid: built
        VolumeCase("big_endian", "v_big_endian", lambda p: nib.save(be, p), "keep"),
        VolumeCase("nifti2", "v_nifti2", save(hu, aff, nib.Nifti2Image), "keep"),
        VolumeCase("float64", "v_float64", save(f64, aff), "keep"),
        VolumeCase("trailing_garbage", "v_trailing", lambda p: p.write_bytes(raw + b"garbage after the member"),
                   "keep"),
        VolumeCase("header_under_declares", "v_tail", gz(plain_header, data, b"\x00" * 2**25), "keep"),
        VolumeCase("uncompressed", "v_plain", save(hu, aff), "keep", "v_plain.nii"),
    ]
    return cases


def run_volumes(h: Harness) -> Path:
    """Build a corpus of good phantoms and bad volumes, each with a report; returns the OUT (kept for faults)."""
    from radgenome.synth.corpus import make_demo_corpus

    corpus = h.work / "demo"
    make_demo_corpus(corpus, n_cases=2, shape=(64, 64, 56))
    goods = sorted((corpus / "dataset").rglob("*.nii.gz"))
    vols = h.work / "vols"
    vols.mkdir()
    rows: list[list[str]] = []
    for g in goods:
        shutil.copyfile(g, vols / g.name)
        rows.append([g.name, "", "", "A 5 mm nodule in the right lung upper lobe. Heart normal.", "Nodule."])
    cases = volume_cases(goods[0])
    for case in cases:
        case.make(vols / case.file)
        rows.append([case.file, "", "", "Heart normal. Lungs clear.", "Normal."])
    reports = write_csv(h.work / "volume_reports.csv", rows)
    out = h.work / "vol_out"
    res = h.invoke(["build", "--reports", reports, "--volumes", vols, "-o", out, "--no-progress"])
    tb = h.traceback(res)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    failures = {f["volume"]: f["reason"] for f in summary.get("failures", [])}
    issues = {i["volume"]: i["reason"] for i in summary.get("issues", [])}
    built = [r["Volumename"] for r in table_rows(out, "case_disorders")] if summary else []
    h.scan_csvs(out)
    for g in goods:
        if built.count(g.name) != 1:
            (h.tally.lost if not built.count(g.name) else h.tally.duplicated).append(f"volumes: {g.name}")
    for case in cases:
        name = case.file
        if case.expect == "fail":
            reason = failures.get(case.stem) or issues.get(f"{case.stem}.nii.gz", "")
            ok = res.exit_code == 3 and bool(reason) and case.stem in reason and name not in built
            h.tally.add("volumes", case.name, ok, tb, "" if ok else f"exit {res.exit_code} reason={reason!r}")
        else:
            ok = built.count(name) == 1 and case.stem not in failures
            if not ok:
                h.tally.lost.append(f"volumes: {name}")
            h.tally.add("volumes", case.name, ok, tb, "" if ok else f"failure={failures.get(case.stem)!r}")
    h.vol_reports, h.vol_dir = reports, vols  # type: ignore[attr-defined]
    return out


# -------------------------------------------------------------------------------------------------- faults
def run_faults(h: Harness, built_out: Path) -> None:
    w = h.work
    good = write_csv(w / "good.csv", GOOD_ROWS)
    one = write_csv(w / "one.csv", GOOD_ROWS[:1])
    text_build = ["--reports", good, "--text-only", "--no-progress", "--reconstructions", "all"]

    # -- OUT entries of the wrong kind (build and text)
    for entry, kind in [("cases", "file"), ("masks", "file"), ("radgenome_files", "file"), ("dataset", "file"),
                        ("summary.json", "folder"), ("report.html", "folder"), ("build.log", "folder"),
                        ("manifest.sqlite", "folder"), ("dataset/qa_pairs.parquet", "folder"),
                        ("dataset/grounded_sentences.parquet", "folder")]:
        out = w / f"kind_{entry.replace('/', '_')}"
        (out / entry).parent.mkdir(parents=True, exist_ok=True)
        (out / entry).mkdir() if kind == "folder" else (out / entry).write_text("x")
        h.fatal("out_kinds", f"build:{entry}_is_{kind}", h.invoke(["build", *text_build, "-o", out]), str(out / entry))
    for entry, kind in [("radgenome_files", "file"), ("sentences.parquet", "folder"), ("text_run.json", "folder"),
                        ("radgenome_files/train_vqa_size.csv", "folder")]:
        out = w / f"tkind_{entry.replace('/', '_')}"
        (out / entry).parent.mkdir(parents=True, exist_ok=True)
        (out / entry).mkdir() if kind == "folder" else (out / entry).write_text("x")
        h.fatal("out_kinds", f"text:{entry}_is_{kind}", h.invoke(["text", good, "-o", out]), str(out))
    out_file = w / "out_is_a_file"
    out_file.write_text("x")
    h.fatal("out_kinds", "build:OUT_is_a_file", h.invoke(["build", *text_build, "-o", out_file]), str(out_file))
    h.fatal("out_kinds", "text:OUT_is_a_file", h.invoke(["text", good, "-o", out_file]), str(out_file))

    # -- a full disk at every writer
    import radgenome.atomic as atomic_mod
    import radgenome.dataset.report_html as report_mod
    import radgenome.dataset.tables as tables_mod
    import radgenome.dataset.writers as writers_mod
    import radgenome.model.record as record_mod
    import radgenome.pipeline.build as build_mod
    import radgenome.pipeline.text_run as text_mod

    class FullParquet(writers_mod.ParquetStream):
        def commit(self) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    for label, target, attr, value, cmd in [
        ("build:tables_csv", tables_mod, "atomic_path", enospc_path, "build"),
        ("build:parquet", writers_mod, "ParquetStream", FullParquet, "build"),
        ("build:summary", build_mod, "atomic_write_text", enospc, "build"),
        ("text:tables_csv", tables_mod, "atomic_path", enospc_path, "text"),
        ("text:run_log", text_mod, "atomic_write_text", enospc, "text"),
        ("build:report_html", report_mod, "atomic_write_text", enospc, "build"),
    ]:
        if not hasattr(target, attr):
            h.tally.add("full_disk", label, False, False, f"no {attr} in {target.__name__}")
            continue
        out = w / f"full_{label.replace(':', '_')}"
        args = ["build", *text_build, "-o", out] if cmd == "build" else ["text", good, "-o", out]
        with patched(target, attr, value):
            h.fatal("full_disk", label, h.invoke(args), "no space left on device")
    original = record_mod.atomic_write_bytes

    def full_for_one(path: Any, data: bytes, **kw: Any) -> None:
        if "adv_good_2" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        original(path, data, **kw)

    out = w / "full_record"
    with patched(record_mod, "atomic_write_bytes", full_for_one):
        res = h.invoke(["build", *text_build, "-o", out])
    s = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    ok = res.exit_code == 3 and [f["volume"] for f in s.get("failures", [])] == ["adv_good_2"] and s.get("done") == 4
    h.tally.add("full_disk", "build:one_case_record", ok, h.traceback(res), res.output[-200:] if not ok else "")
    import radgenome.segmentation.io as seg_io

    orig_bytes = seg_io.atomic_write_bytes
    vol_dir = h.vol_dir  # type: ignore[attr-defined]
    out = w / "full_labelmap"

    def full_labelmaps(path: Any, data: bytes, **kw: Any) -> None:
        if str(path).endswith(".nii.gz") and "valid_1" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        orig_bytes(path, data, **kw)

    small = write_csv(w / "small_vol.csv", [[p.name, "", "", "Heart normal.", "Normal."]
                                            for p in sorted(vol_dir.glob("*_a_1.nii.gz"))])
    with patched(seg_io, "atomic_write_bytes", full_labelmaps):
        res = h.invoke(["build", "--reports", small, "--volumes", vol_dir, "-o", out, "--no-progress"])
    s = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    ok = res.exit_code == 3 and [f["volume"] for f in s.get("failures", [])] == ["valid_1_a_1"]
    h.tally.add("full_disk", "build:one_label_map", ok, h.traceback(res), res.output[-300:] if not ok else "")
    del atomic_mod

    # -- read-only and blocked targets for every command that writes
    readonly = _readonly_dir(w)
    blocker = w / "blocker"
    blocker.write_text("a file where a folder must be")
    ct = sorted(vol_dir.glob("*_a_1.nii.gz"))[0]
    lm = sorted((built_out / "masks").glob("*.nii.gz"))[0]
    for base_label, base in (("read_only", readonly), ("file_as_folder", blocker)):
        if base is None:
            continue
        target = base / "radgenome-out"
        commands = {
            "segment": ["segment", ct, "-o", target],
            "mask": ["mask", lm, "lung", "-o", base / "m.nii.gz"],
            "demo": ["demo", "-o", target, "--cases", "1", "--no-progress"],
            "example-reports": ["example-reports", "-o", base / "r.csv", "-n", "2"],
            "text": ["text", one, "-o", target],
            "build": ["build", "--reports", one, "--text-only", "-o", target, "--no-progress"],
            "eval-agreement": ["eval", "agreement", w / "rows_text", w / "rows_text", "-o", base / "q.csv"],
            "export-verified": ["export-verified", built_out, "--db", f"sqlite:///{w / 'review.sqlite'}", "-o",
                                target],
        }
        for name, args in commands.items():
            h.fatal(base_label, name, h.invoke(args), str(base))

    # -- FIFOs, folders and dangling links as inputs
    for kind in ("fifo", "folder", "dangling_link", "link_loop"):
        p = w / f"input_{kind}.csv"
        _make_odd(p, kind)
        n = f"input_{kind}.nii.gz"
        _make_odd(w / n, kind)
        h.fatal("odd_inputs", f"text:reports_{kind}", h.invoke(["text", p, "-o", w / f"o_t_{kind}"]), str(p))
        h.fatal("odd_inputs", f"build:reports_{kind}",
                h.invoke(["build", "--reports", p, "--text-only", "-o", w / f"o_b_{kind}", "--no-progress"]), str(p))
        h.fatal("odd_inputs", f"mask:labelmap_{kind}", h.invoke(["mask", w / n, "lung", "-o", w / f"m_{kind}.nii.gz"]),
                str(w / n))
        res = h.invoke(["build", "--reports", one, "--text-only", "--metadata", p, "-o", w / f"o_m_{kind}",
                        "--no-progress"])
        ok = res.exit_code == 0 and str(p) in json.dumps(json.loads((w / f"o_m_{kind}" / "summary.json").read_text()))
        h.tally.add("odd_inputs", f"build:metadata_{kind}", ok, h.traceback(res), "" if ok else res.output[-300:])
        res = h.invoke(["segment", ct, "--metadata", p, "-o", w / f"o_s_{kind}"])
        h.fatal("odd_inputs", f"segment:metadata_{kind}", res, str(p))
        res = h.invoke(["segment", w / n, ct, "-o", w / f"o_s2_{kind}"])
        named = f"input_{kind}" in first_column(res.output)
        ok = res.exit_code == 3 and named and (w / f"o_s2_{kind}" / ct.name).exists()
        h.tally.add("odd_inputs", f"segment:input_{kind}", ok, h.traceback(res), "" if ok else res.output[-300:])

    # -- reports tables that are unusable as a whole
    for label, data in {
        "empty_file": b"", "header_only": ",".join(HEADER).encode() + b"\n", "no_volume_column": b"a,b\n1,2\n",
        "binary_garbage": bytes(range(256)) * 40, "only_blank_lines": b"\n\n\n",
        "bad_utf16": b"\xff\xfe" + b"\x00\xd8" * 10,
    }.items():
        p = w / f"table_{label}.csv"
        p.write_bytes(data)
        res = h.invoke(["text", p, "-o", w / f"tt_{label}"])
        ok = res.exit_code in (1, 3) and not h.traceback(res) and (res.exit_code == 3 or "fatal:" in res.output)
        h.tally.add("tables", f"text:{label}", ok, h.traceback(res), "" if ok else res.output[-300:])
        res = h.invoke(["build", "--reports", p, "--text-only", "-o", w / f"tb_{label}", "--no-progress"])
        ok = res.exit_code in (1, 3) and not h.traceback(res) and (res.exit_code == 3 or "fatal:" in res.output)
        h.tally.add("tables", f"build:{label}", ok, h.traceback(res), "" if ok else res.output[-300:])
    for label, data in {"utf16": ("\ufeff" + ",".join(HEADER) + "\nadv_u_1,,,Ödem – none.,\n").encode("utf-16-le"),
                        "bom_crlf": b"\xef\xbb\xbf" + (",".join(HEADER) + "\r\nadv_u_2,,,Heart normal.,\r\n").encode(),
                        "cr_only": (",".join(HEADER) + "\radv_u_3,,,Heart normal.,\r").encode()}.items():
        p = w / f"table_{label}.csv"
        p.write_bytes(data)
        res = h.invoke(["text", p, "-o", w / f"tt_{label}"])
        ok = res.exit_code == 0 and len(table_rows(w / f"tt_{label}", "case_disorders")) == 1
        h.tally.add("tables", f"text:{label}", ok, h.traceback(res), "" if ok else res.output[-300:])

    # -- resume after damage: each damaged case is rebuilt, the tables come back byte-identical
    out = built_out
    before = _tables(out)
    good_stems = sorted(p.stem for p in (out / "cases").glob("*.json"))
    stem = good_stems[0]
    damages: dict[str, Callable[[], None]] = {
        "record_truncated": lambda: _truncate(out / "cases" / f"{stem}.json", 100),
        "record_garbage": lambda: (out / "cases" / f"{stem}.json").write_bytes(b"\x00garbage" * 50),
        "record_empty": lambda: (out / "cases" / f"{stem}.json").write_bytes(b""),
        "record_wrong_schema": lambda: (out / "cases" / f"{stem}.json").write_text('{"schema_version": 99}'),
        "record_deleted": lambda: (out / "cases" / f"{stem}.json").unlink(),
        "labelmap_truncated": lambda: _truncate(out / "masks" / f"{stem}.nii.gz", -100),
        "labelmap_zeroed": lambda: _zero(out / "masks" / f"{stem}.nii.gz"),
        "labelmap_deleted": lambda: (out / "masks" / f"{stem}.nii.gz").unlink(),
        "sidecar_garbage": lambda: (out / "masks" / f"{stem}.json").write_text("{not json"),
        "sidecar_deleted": lambda: (out / "masks" / f"{stem}.json").unlink(),
        "manifest_garbage": lambda: (out / "manifest.sqlite").write_bytes(b"not a database" * 500),
        "manifest_empty": lambda: (out / "manifest.sqlite").write_bytes(b""),
        "manifest_truncated": lambda: _truncate(out / "manifest.sqlite", 1000),
        "stale_temps": lambda: _stale(out, stem),
    }
    args = ["build", "--reports", h.vol_reports, "--volumes", vol_dir, "-o", out, "--no-progress"]  # type: ignore[attr-defined]
    for label, damage in damages.items():
        damage()
        res = h.invoke(args)
        ok = res.exit_code == 3 and _tables(out) == before  # 3: the bad volumes of the corpus still fail
        if label.startswith(("record", "labelmap", "sidecar")):
            ok &= "rebuilt" in res.output or "failed their check" in res.output or label == "record_deleted"
        h.tally.add("resume", label, ok, h.traceback(res), "" if ok else res.output[-400:])

    # -- a second build while another process holds the lock
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from radgenome.pipeline.lock import OutputLock; "
        "l = OutputLock(sys.argv[1], command='holder'); l.acquire(); print('locked', flush=True); time.sleep(120)"),
        str(out / ".radgenome.lock")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() == "locked":
            h.fatal("lock", "second_build", h.invoke(args), f"pid {holder.pid}", "holder")
        else:
            h.tally.add("lock", "second_build", False, False, "could not take the lock in a second process")
    finally:
        holder.kill()
        holder.wait()

    # -- paths: relative then absolute, another working folder, a moved corpus
    from radgenome.dataset.torch_dataset import RadGenomeDataset

    cwd = Path.cwd()
    try:
        os.chdir(w)
        rel = ["build", "--reports", os.path.relpath(h.vol_reports, w), "--volumes", os.path.relpath(vol_dir, w),  # type: ignore[attr-defined]
               "-o", "rel_out", "--no-progress"]
        res1 = h.invoke(rel)
        first = _tables(w / "rel_out")
        os.chdir(vol_dir)
        res2 = h.invoke(["build", "--reports", h.vol_reports, "--volumes", vol_dir, "-o", w / "rel_out",  # type: ignore[attr-defined]
                         "--no-progress"])
        ok = res1.exit_code == res2.exit_code == 3 and _tables(w / "rel_out") == first
        h.tally.add("paths", "relative_then_absolute_resume", ok, h.traceback(res1) or h.traceback(res2))
        os.chdir(Path(tempfile.gettempdir()))
        ds = RadGenomeDataset(w / "rel_out", "qa", allow_missing_masks=True)
        ok = ds.load_item(0)["image"].ndim == 4
        h.tally.add("paths", "loader_from_another_folder", ok, False)
        moved_vols = w / "moved" / "vols"
        shutil.copytree(vol_dir, moved_vols, symlinks=True, ignore=shutil.ignore_patterns("v_fifo*", "v_socket*"))
        shutil.copytree(w / "rel_out", w / "moved" / "out", ignore=shutil.ignore_patterns(".radgenome.lock"))
        ds = RadGenomeDataset(w / "moved" / "out", "qa", allow_missing_masks=True, corpus_root=moved_vols)
        ok = ds.load_item(0)["image"].ndim == 4
        h.tally.add("paths", "loader_after_the_corpus_moved", ok, False)
    except Exception as exc:
        h.tally.add("paths", "paths", False, True, repr(exc))
    finally:
        os.chdir(cwd)


def _readonly_dir(w: Path) -> Path | None:
    d = w / "readonly"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / "probe").write_text("x")
    except PermissionError:
        return d
    (d / "probe").unlink()
    for cand in (Path("/sys"), Path("/proc/sys")):
        try:
            (cand / "radgenome-probe").mkdir()
            (cand / "radgenome-probe").rmdir()
        except OSError:
            return cand
    return None


def _make_odd(p: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "folder":
        p.mkdir()
    elif kind == "dangling_link":
        p.symlink_to(p.with_name(p.name + ".gone"))
    else:
        p.symlink_to(p)


def _truncate(p: Path, n: int) -> None:
    data = p.read_bytes()
    p.write_bytes(data[:n])


def _zero(p: Path) -> None:
    p.write_bytes(b"\x00" * p.stat().st_size)


def _stale(out: Path, stem: str) -> None:
    for rel in (f"cases/.{stem}.json.abcd1234.tmp", "radgenome_files/.train_vqa_size.csv.q1w2e3r4.tmp",
                "dataset/.qa_pairs.parquet.zxcvbnm1.tmp", f"masks/.{stem}.nii.gz.poiuytre.tmp"):
        (out / rel).write_bytes(b"half")
    (out / f".seg_{stem}.asdfghjk.tmp").mkdir(exist_ok=True)


def _tables(out: Path) -> dict[str, bytes]:
    files = sorted((out / "radgenome_files").glob("*.csv")) + sorted((out / "dataset").glob("*.parquet"))
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


# ---------------------------------------------------------------------------------------------------- main
def run_suite(work: Path, hang_seconds: float = HANG_SECONDS) -> dict[str, Any]:
    """Run every probe in ``work`` (an empty folder); the figures."""
    h = Harness(work, hang_seconds)
    t0 = time.perf_counter()
    run_rows(h)
    built = run_volumes(h)
    run_faults(h, built)
    for out in sorted(p for p in work.iterdir() if p.is_dir()):
        if out.name not in ("rows_text", "rows_build", "vol_out"):
            h.scan_csvs(out)
    figures = h.tally.figures()
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    figures["lost"] = h.tally.lost
    figures["duplicated"] = h.tally.duplicated
    figures["formula"] = h.tally.formula_cells[:20]
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="Folder for the generated inputs and outputs (default: a temp dir).")
    ap.add_argument("--keep", action="store_true", help="Keep the work folder.")
    ap.add_argument("--verbose", action="store_true", help="List every probe that was not handled cleanly.")
    ap.add_argument("--hang-seconds", type=float, default=HANG_SECONDS,
                    help="A command running longer is counted as hung (default %(default)s).")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="radgenome_adversarial_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        fig = run_suite(work, hang_seconds=args.hang_seconds)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"bad inputs and faults tried   {fig['tried']}")
    print(f"handled cleanly               {fig['handled_cleanly']}")
    print(f"tracebacks                    {fig['tracebacks']}")
    print(f"lost rows                     {fig['lost_rows']}")
    print(f"duplicated rows               {fig['duplicated_rows']}")
    print(f"formula cells                 {fig['formula_cells']} (in {fig['csv_cells_scanned']:,} cells of "
          f"{fig['csv_files_scanned']} CSV files)")
    print(f"seconds                       {fig['seconds']}")
    for cat, c in fig["by_category"].items():
        print(f"  {cat:<16} tried {c['tried']:>3}  clean {c['clean']:>3}  tracebacks {c['tracebacks']}")
    if args.verbose:
        for line in fig["not_clean"] + fig["lost"] + fig["duplicated"] + fig["formula"]:
            print(f"  ! {line}")
    else:
        print(f"  ({len(fig['not_clean'])} not clean; --verbose lists them)")
    return 0 if fig["handled_cleanly"] == fig["tried"] and not fig["formula_cells"] else 1


if __name__ == "__main__":
    sys.exit(main())

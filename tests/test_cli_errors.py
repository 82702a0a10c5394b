"""No traceback reaches the user: every fatal condition of every command is one ``fatal:`` line naming the path
and the reason (exit 1), unless ``--debug`` asks for the traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from radgenome.cli import app

runner = CliRunner()
HEADER = "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n"


@pytest.fixture
def readonly(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write into (root ignores permissions: then a read-only system folder)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / "probe").write_text("x")
    except PermissionError:
        yield d
        d.chmod(0o755)
        return
    (d / "probe").unlink()
    d.chmod(0o755)
    for candidate in (Path("/sys"), Path("/proc/sys")):
        try:
            (candidate / "radgenome-probe").mkdir()
        except OSError:
            yield candidate
            return
        (candidate / "radgenome-probe").rmdir()
    pytest.skip("no read-only folder available")


def one_fatal_line(res: Any, *must: str) -> str:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    fatal = [line for line in res.output.splitlines() if line.startswith("fatal:")]
    assert len(fatal) == 1, res.output
    for text in must:
        assert text in fatal[0], fatal[0]
    return fatal[0]


@pytest.fixture
def inputs(h: Any, tmp_path: Path) -> dict[str, Path]:
    hu, labels = h.chest_ras()
    ct = h.write_nifti(tmp_path / "ct.nii.gz", hu.astype(np.int16), h.ras_affine())
    lm = h.write_nifti(tmp_path / "lm.nii.gz", labels, h.ras_affine())
    (tmp_path / "lm.json").write_text(json.dumps({"labels": {"1": "left lung", "2": "right lung"}}))
    reports = tmp_path / "reports.csv"
    reports.write_text(HEADER + "ct.nii.gz,,,Heart normal.,\n")
    return {"ct": ct, "lm": lm, "reports": reports}


def test_read_only_targets(readonly: Path, inputs: dict[str, Path]) -> None:
    target = readonly / "radgenome-out"
    cases = {
        "segment": ["segment", str(inputs["ct"]), "-o", str(target)],
        "mask": ["mask", str(inputs["lm"]), "lung", "-o", str(readonly / "m.nii.gz")],
        "demo": ["demo", "-o", str(target), "--cases", "1", "--no-progress"],
        "example-reports": ["example-reports", "-o", str(readonly / "r.csv"), "-n", "2"],
        "text": ["text", str(inputs["reports"]), "-o", str(target)],
        "build": ["build", "--reports", str(inputs["reports"]), "--text-only", "-o", str(target), "--no-progress"],
    }
    for name, args in cases.items():
        line = one_fatal_line(runner.invoke(app, args))
        assert str(readonly) in line, (name, line)


def test_a_file_where_a_folder_must_be(tmp_path: Path, inputs: dict[str, Path]) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    for args in (["segment", str(inputs["ct"]), "-o", str(blocker / "seg")],
                 ["mask", str(inputs["lm"]), "lung", "-o", str(blocker / "m.nii.gz")],
                 ["text", str(inputs["reports"]), "-o", str(blocker / "t")],
                 ["demo", "-o", str(blocker), "--cases", "1", "--no-progress"],
                 ["example-reports", "-o", str(blocker / "r.csv"), "-n", "1"]):
        one_fatal_line(runner.invoke(app, args), str(blocker))


def test_fifo_inputs_never_hang(tmp_path: Path, inputs: dict[str, Path]) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    nii_fifo = tmp_path / "pipe.nii.gz"
    os.mkfifo(nii_fifo)
    one_fatal_line(runner.invoke(app, ["mask", str(nii_fifo), "lung", "-o", str(tmp_path / "m.nii.gz")]), "FIFO")
    one_fatal_line(runner.invoke(app, ["build", "--reports", str(fifo), "-o", str(tmp_path / "b"), "--text-only",
                                       "--no-progress"]), "FIFO")
    res = runner.invoke(app, ["build", "--reports", str(inputs["reports"]), "--metadata", str(fifo),
                              "--volumes", str(tmp_path), "-o", str(tmp_path / "b2"), "--no-progress"])
    assert res.exit_code in (0, 3) and "FIFO" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["segment", str(nii_fifo), str(inputs["ct"]), "-o", str(tmp_path / "s")])
    assert res.exit_code == 3 and "FIFO" in res.output


def test_unexpected_errors_are_one_line_unless_debug(
    tmp_path: Path, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import radgenome.pipeline.text_run as text_run

    def boom(*_: Any, **__: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(text_run, "write_radgenome_tables", boom)
    args = ["text", str(inputs["reports"]), "-o", str(tmp_path / "o")]
    line = one_fatal_line(runner.invoke(app, args), "unexpected KeyError", "--debug")
    assert "a bug" in line
    res = runner.invoke(app, ["--debug", *args])
    assert isinstance(res.exception, KeyError)  # the traceback is the user's to see
    monkeypatch.setenv("RADGENOME_DEBUG", "1")
    assert isinstance(runner.invoke(app, args).exception, KeyError)

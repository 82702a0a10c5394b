"""The 18-label scorer and `radgenome eval labels` (tiny hand-made CSVs)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.eval.labels import LabelInputError, LabelScore, evaluate_labels, score_labels
from radgenome.text.labels import LABELS


def _row(**flags: int) -> dict[str, int]:
    return {label: flags.get(label.replace(" ", "_"), 0) for label in LABELS}


def test_label_score_math() -> None:
    s = LabelScore("x", tp=3, fp=1, fn=2, tn=10)
    assert s.precision == pytest.approx(0.75)
    assert s.recall == pytest.approx(0.6)
    assert s.f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert s.support == 5
    empty = LabelScore("y", 0, 0, 0, 5)
    assert empty.precision == empty.recall == empty.f1 == 1.0
    miss = LabelScore("z", 0, 0, 4, 1)
    assert miss.precision == 0.0 and miss.recall == 0.0 and miss.f1 == 0.0


def test_score_labels_macro_and_micro() -> None:
    gold = [_row(Cardiomegaly=1), _row(Cardiomegaly=1, Emphysema=1), _row()]
    pred = [_row(Cardiomegaly=1), _row(Emphysema=1), _row(Emphysema=1)]
    scores = score_labels(gold, pred)
    by = scores.by_label()
    assert (by["Cardiomegaly"].tp, by["Cardiomegaly"].fp, by["Cardiomegaly"].fn) == (1, 0, 1)
    assert (by["Emphysema"].tp, by["Emphysema"].fp, by["Emphysema"].fn) == (1, 1, 0)
    f1_c, f1_e = 2 / 3, 2 / 3
    assert scores.macro_f1 == pytest.approx((f1_c + f1_e + 16 * 1.0) / 18)
    assert scores.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores.n == 3


def test_score_labels_rejects_misaligned_rows() -> None:
    with pytest.raises(ValueError):
        score_labels([_row()], [])
    with pytest.raises(ValueError):
        score_labels([{"Cardiomegaly": "maybe"}], [_row()])


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _flags(row: dict[str, int]) -> list[int]:
    return [row[label] for label in LABELS]


def test_run_without_pred_labels_report_text(tmp_path: Path) -> None:
    gold = _write(
        tmp_path / "gold.csv",
        ["VolumeName", "report_text", *LABELS],
        [
            ["", "There is a small hiatal hernia. No pleural effusion.", *_flags(_row(Hiatal_hernia=1))],
            ["", "Bilateral pleural effusion.", *_flags(_row(Pleural_effusion=1))],
        ],
    )
    ev = evaluate_labels(gold, None)
    assert ev.scores.macro_f1 == 1.0 and ev.scores.n == 2 and ev.source == "extract_labels(report_text)"
    res = CliRunner().invoke(app, ["eval", "labels", str(gold)])
    assert res.exit_code == 0 and "macro-F1 1.0000" in res.output and "n=2" in res.output


def test_run_with_pred_joins_on_volume(tmp_path: Path) -> None:
    gold = _write(
        tmp_path / "gold.csv",
        ["VolumeName", *LABELS],
        [["valid_1_a_1", *_flags(_row(Emphysema=1))], ["valid_2_a_1", *_flags(_row())], ["", *_flags(_row())]],
    )
    pred = _write(
        tmp_path / "validation_abnormality_labels.csv",
        ["VolumeName", *LABELS],
        [["valid_2_a_1", *_flags(_row(Emphysema=1))], ["valid_1_a_1", *_flags(_row(Emphysema=1))]],
    )
    ev = evaluate_labels(gold, pred)
    assert (ev.joined, ev.gold_rows, ev.unjoined, ev.scores.n) == (2, 3, 1, 2)
    out = CliRunner().invoke(app, ["eval", "labels", str(gold), str(pred)]).output
    assert "joined 2 of 3 gold rows" in out and "1 could not be joined" in out
    assert "n=2" in out


def test_run_reports_bad_input(tmp_path: Path) -> None:
    no_text = _write(tmp_path / "g.csv", ["VolumeName", *LABELS], [["a", *_flags(_row())]])
    with pytest.raises(LabelInputError, match="no report_text column"):
        evaluate_labels(no_text, None)
    missing_cols = _write(tmp_path / "h.csv", ["VolumeName", "report_text"], [["a", "x"]])
    with pytest.raises(LabelInputError, match="missing columns"):
        evaluate_labels(missing_cols, None)
    for bad in (no_text, missing_cols, tmp_path / "absent.csv"):
        res = CliRunner().invoke(app, ["eval", "labels", str(bad)])
        assert res.exit_code == 2 and "error:" in res.output


def test_cli_eval_labels(tmp_path: Path) -> None:
    gold = _write(
        tmp_path / "gold.csv",
        ["report_text", *LABELS],
        [["Emphysematous changes in both lungs.", *_flags(_row(Emphysema=1))]],
    )
    result = CliRunner().invoke(app, ["eval", "labels", str(gold)])
    assert result.exit_code == 0, result.output
    assert "Emphysema" in result.output
    assert "macro-F1 1.0000" in result.output

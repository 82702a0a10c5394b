from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from radgenome.cli import app
from radgenome.eval.grounding import cell_sentences, read_region_rows, score_grounding
from radgenome.eval.negations import find_violations, is_plain_denial


def _csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    import csv

    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Volumename", "Anatomy", "Sentence"])
        w.writerows(rows)
    return path


def test_normalisation_and_splitting() -> None:
    assert cell_sentences("Heart  is normal.  No effusion.") == ["heart is normal", "no effusion"]


def test_scores_only_gold_pairs_and_counts_triples(tmp_path: Path) -> None:
    gold = _csv(
        tmp_path / "g.csv", [("v1.nii.gz", "lung", "A nodule. No mass."), ("v1.nii.gz", "heart", "Heart normal.")]
    )
    pred = _csv(
        tmp_path / "p.csv",
        [
            ("v1.nii.gz", "", "whole text is ignored"),
            ("v1.nii.gz", "lung", "A nodule. Heart normal."),
            ("v1.nii.gz", "lung/lung", "sub-levels are not scored"),
            ("v1.nii.gz", "pleura", "a region the gold lacks is not scored."),
        ],
    )
    s = score_grounding(read_region_rows(gold), read_region_rows(pred))
    assert (s.tp, s.fp, s.fn) == (1, 1, 2)
    assert abs(s.f1 - 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3)) < 1e-9


def test_cli_reads_an_output_folder(tmp_path: Path) -> None:
    gold = _csv(tmp_path / "g.csv", [("v1", "lung", "A nodule.")])
    (tmp_path / "out" / "radgenome_files").mkdir(parents=True)
    _csv(tmp_path / "out" / "radgenome_files" / "train_region_report.csv", [("v1", "lung", "A nodule.")])
    res = CliRunner().invoke(app, ["eval", "grounding", str(gold), str(tmp_path / "out")])
    assert res.exit_code == 0 and "1.000" in res.output


def test_negation_audit_flags_plain_denials_only() -> None:
    assert is_plain_denial("No pleural effusion was detected.", "pleural effusion")
    assert is_plain_denial("Pericardial effusion-thickening was not observed.", "pericardial effusion")
    assert not is_plain_denial("No significant change in the size of the nodule.", "nodule")
    assert not is_plain_denial("No mass was seen, and atelectasis is present in the lower lobe.", "atelectasis")
    assert not is_plain_denial("A nodule which was not observed in the previous examination.", "nodule")
    rows = [{"volume": "v", "text": "No pleural effusion was detected.",
             "findings": [{"phrase": "pleural effusion", "polarity": "present"}]}]
    assert len(find_violations(rows)) == 1

"""Score CT-RATE's 18 abnormality labels against a gold table (``radgenome eval labels GOLD [PRED]``).

Gold: a CSV with the 18 label columns and either ``report_text`` (CT-CLIP's manual labels) or ``VolumeName``.
Pred: a ``{split}_abnormality_labels.csv`` (``VolumeName`` + 18 columns), joined to the gold on
``VolumeName``; gold rows that cannot be joined (empty or unknown VolumeName) are counted and reported, not
scored. Without a pred, the gold's ``report_text`` is labelled with
:func:`radgenome.text.labels.extract_labels`.

F1 conventions: a label with no gold positives and no predicted positives scores P = R = F1 = 1 (perfect
agreement); otherwise an empty denominator gives 0. Macro-F1 is the mean over the 18 labels; micro-F1 pools
tp/fp/fn over them.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from radgenome.eval.grounding import unescape_row
from radgenome.text.labels import LABELS, extract_labels

__all__ = ["LabelScore", "LabelScores", "evaluate_labels", "read_label_rows", "score_labels"]

Row = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp, self.tp + self.fp + self.fn)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn, self.tp + self.fp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn, self.tp + self.fp + self.fn)


@dataclass(frozen=True, slots=True)
class LabelScores:
    per_label: tuple[LabelScore, ...]
    n: int
    """Number of scored reports."""

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.per_label) / len(self.per_label) if self.per_label else 0.0

    @property
    def macro_precision(self) -> float:
        return sum(s.precision for s in self.per_label) / len(self.per_label) if self.per_label else 0.0

    @property
    def macro_recall(self) -> float:
        return sum(s.recall for s in self.per_label) / len(self.per_label) if self.per_label else 0.0

    @property
    def micro(self) -> LabelScore:
        return LabelScore(
            "micro",
            sum(s.tp for s in self.per_label),
            sum(s.fp for s in self.per_label),
            sum(s.fn for s in self.per_label),
            sum(s.tn for s in self.per_label),
        )

    @property
    def micro_f1(self) -> float:
        return self.micro.f1

    def by_label(self) -> dict[str, LabelScore]:
        return {s.label: s for s in self.per_label}


def _ratio(num: int, den: int, total_errors_and_hits: int) -> float:
    if den == 0:
        return 1.0 if total_errors_and_hits == 0 else 0.0
    return num / den


def _flag(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool | int | float):
        return int(bool(value))
    text = str(value).strip().lower()
    if text in ("", "0", "0.0", "false", "no", "nan"):
        return 0
    if text in ("1", "1.0", "true", "yes"):
        return 1
    raise ValueError(f"not a 0/1 label value: {value!r}")


def score_labels(
    gold_rows: Sequence[Row], pred_rows: Sequence[Row], labels: Sequence[str] = LABELS
) -> LabelScores:
    """Per-label confusion counts of aligned gold/pred rows (row i of each describes the same report)."""
    if len(gold_rows) != len(pred_rows):
        raise ValueError(f"{len(gold_rows)} gold rows but {len(pred_rows)} predicted rows")
    scores = []
    for label in labels:
        tp = fp = fn = tn = 0
        for g, p in zip(gold_rows, pred_rows, strict=True):
            gv, pv = _flag(g.get(label)), _flag(p.get(label))
            tp += gv and pv
            fp += pv and not gv
            fn += gv and not pv
            tn += not gv and not pv
        scores.append(LabelScore(label, tp, fp, fn, tn))
    return LabelScores(tuple(scores), len(gold_rows))


def read_label_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a labels CSV (BOM tolerated)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [unescape_row(r) for r in csv.DictReader(fh)]


def _check_columns(rows: list[dict[str, str]], path: Path, need: Sequence[str]) -> list[str]:
    header = list(rows[0]) if rows else []
    return [c for c in need if c not in header] if rows else [f"(no rows in {path})"]


def _align(
    gold: list[dict[str, str]], pred_path: Path | None
) -> tuple[list[Row], list[Row], int, str]:
    """Aligned gold/pred rows, number of unjoined gold rows, and an error message ('' when fine)."""
    if pred_path is None:
        if "report_text" not in gold[0]:
            return [], [], 0, "gold has no report_text column; give a PRED file"
        preds: list[Row] = [extract_labels(g.get("report_text") or "") for g in gold]
        return list(gold), preds, 0, ""
    pred = read_label_rows(pred_path)
    missing = _check_columns(pred, pred_path, ["VolumeName", *LABELS])
    if missing:
        return [], [], 0, f"{pred_path}: missing columns {missing}"
    by_volume = {(r.get("VolumeName") or "").strip(): r for r in pred}
    golds: list[Row] = []
    preds = []
    unjoined = 0
    for g in gold:
        volume = (g.get("VolumeName") or "").strip()
        if volume and volume in by_volume:
            golds.append(g)
            preds.append(by_volume[volume])
        else:
            unjoined += 1
    return golds, preds, unjoined, ""


class LabelInputError(ValueError):
    """A gold or predicted labels file that cannot be scored (missing columns, nothing to join)."""


@dataclass(frozen=True)
class LabelsEvaluation:
    scores: LabelScores
    gold_rows: int
    """Rows of the gold file."""
    joined: int
    """Gold rows scored (joined to a prediction on VolumeName, or all when labelling the gold's report_text)."""
    unjoined: int
    source: str
    """What was scored: the predicted file, or ``extract_labels(report_text)``."""


def evaluate_labels(gold: Path, pred: Path | None = None) -> LabelsEvaluation:
    """Score ``pred`` (or the rules' labels of the gold's ``report_text``) against ``gold``.

    Raises :class:`LabelInputError` for unusable files and ``OSError``/``csv.Error`` when one cannot be read.
    """
    gold_rows = read_label_rows(gold)
    missing = _check_columns(gold_rows, gold, LABELS)
    if missing:
        raise LabelInputError(f"{gold}: missing columns {missing}")
    golds, preds, unjoined, error = _align(gold_rows, pred)
    if error:
        raise LabelInputError(error)
    scores = score_labels(golds, preds)
    source = f"{pred}" if pred is not None else "extract_labels(report_text)"
    return LabelsEvaluation(scores, len(gold_rows), len(golds), unjoined, source)

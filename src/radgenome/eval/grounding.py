"""Sentence-level grounding score against RadGenome-style region rows.

Both sides are ``Volumename,Anatomy,Sentence`` tables. Each ``Sentence`` cell is split into sentences and
normalised (lower case, single spaces, no final period); (volume, region, sentence) triples are compared over
the (volume, region) pairs that the gold has, and micro precision / recall / F1 are reported. Only top-level
regions are scored (rows whose ``Anatomy`` has no ``/``) unless ``levels="all"``.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from radgenome.csvcells import unescape_cell
from radgenome.model import OutputLayout
from radgenome.text.sentences import split_sentences

_SPACES = re.compile(r"\s+")

Triple = tuple[str, str, str]


def normalise_sentence(text: str) -> str:
    text = _SPACES.sub(" ", text.strip().lower())
    return text.rstrip(" .")


def normalise_volume(name: str) -> str:
    name = name.strip()
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def cell_sentences(cell: str) -> list[str]:
    return [n for n in (normalise_sentence(s.text) for s in split_sentences(cell)) if n]


@dataclass
class GroundingScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_region: dict[str, Counter[str]] = field(default_factory=dict)
    false_positives: list[Triple] = field(default_factory=list)
    false_negatives: list[Triple] = field(default_factory=list)
    fp_unplaced: int = 0
    """False positives whose sentence the gold places in no region of that volume (a gold omission, not a
    disagreement about the region)."""

    @staticmethod
    def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    @property
    def precision(self) -> float:
        return self._prf(self.tp, self.fp, self.fn)[0]

    @property
    def recall(self) -> float:
        return self._prf(self.tp, self.fp, self.fn)[1]

    @property
    def f1(self) -> float:
        return self._prf(self.tp, self.fp, self.fn)[2]

    def placed_prf(self) -> tuple[float, float, float]:
        """P/R/F1 counting only false positives the gold places elsewhere (omissions set aside)."""
        return self._prf(self.tp, self.fp - self.fp_unplaced, self.fn)

    def region_prf(self, region: str) -> tuple[float, float, float]:
        c = self.per_region[region]
        return self._prf(c["tp"], c["fp"], c["fn"])


def unescape_row(row: dict[str, str]) -> dict[str, str]:
    """A CSV row as our writers meant it: the formula-escaping quote of :mod:`radgenome.csvcells` removed."""
    return {k: unescape_cell(v) if isinstance(v, str) else v for k, v in row.items()}


def read_region_rows(path: Path, levels: str = "top") -> dict[tuple[str, str], list[str]]:
    """(volume, region) -> normalised sentences, from a ``Volumename,Anatomy,Sentence`` CSV."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in map(unescape_row, csv.DictReader(fh)):
            anatomy = (row.get("Anatomy") or "").strip()
            if not anatomy or (levels == "top" and "/" in anatomy):
                continue
            key = (normalise_volume(row.get("Volumename") or row.get("VolumeName") or ""), anatomy)
            out[key].extend(cell_sentences(row.get("Sentence") or ""))
    return out


def score_grounding(
    gold: dict[tuple[str, str], list[str]], pred: dict[tuple[str, str], list[str]]
) -> GroundingScore:
    score = GroundingScore()
    placed: dict[str, set[str]] = defaultdict(set)
    for (volume, _), sents in gold.items():
        placed[volume].update(sents)
    for key, gold_sents in gold.items():
        g = Counter(gold_sents)
        p = Counter(pred.get(key, []))
        region = key[1]
        counts = score.per_region.setdefault(region, Counter())
        for sent in g | p:
            tp = min(g[sent], p[sent])
            fp = p[sent] - tp
            fn = g[sent] - tp
            score.tp += tp
            score.fp += fp
            score.fn += fn
            counts["tp"] += tp
            counts["fp"] += fp
            counts["fn"] += fn
            score.false_positives.extend([(key[0], region, sent)] * fp)
            if fp and sent not in placed[key[0]]:
                score.fp_unplaced += fp
            score.false_negatives.extend([(key[0], region, sent)] * fn)
    return score


def _pred_path(pred: Path) -> list[Path]:
    if pred.is_dir():
        tables = OutputLayout(pred).tables_dir
        folder = tables if tables.is_dir() else pred
        found = sorted(folder.glob("*_region_report.csv"))
        if not found:
            raise FileNotFoundError(f"no *_region_report.csv under {pred}")
        return found
    return [pred]


def load_predictions(pred: Path, levels: str = "top") -> dict[tuple[str, str], list[str]]:
    merged: dict[tuple[str, str], list[str]] = {}
    for path in _pred_path(pred):
        merged.update(read_region_rows(path, levels))
    return merged


def format_rows(score: GroundingScore, regions: Iterable[str]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for region in regions:
        if region not in score.per_region:
            continue
        p, r, f = score.region_prf(region)
        n = score.per_region[region]["tp"] + score.per_region[region]["fn"]
        rows.append((region, f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", str(n)))
    return rows

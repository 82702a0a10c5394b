"""Agreement with RadGenome's own VQA rows (a consistency signal: RadGenome's extraction has known errors).

Compares, over the volumes both sides have:

- **abnormal region sets**: per volume, the RadGenome paths whose abnormality is not ``no findings``
  (``{split}_vqa_abnormality.csv``) — micro precision/recall of ours against theirs, per top-level region;
- **stated negatives**: per volume, the paths with a ``No.`` presence row;
- **sizes**: per volume, the multiset of sizes in mm (theirs parsed from the ``Size`` strings, which they keep
  raw: ``14mm``, ``2 cm``);
- **their abnormalities that our text states as absent** — e.g. "pericardial effusion" listed for a heart whose
  sentence says it was not observed. These are counted and listed, because they are where the two disagree
  about polarity, not about regions.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from radgenome.eval.grounding import normalise_volume, unescape_row
from radgenome.model import OutputLayout
from radgenome.text.measure import parse_measurements

NO_FINDINGS = "no findings"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [unescape_row(r) for r in csv.DictReader(fh)]


def _find(folder: Path, suffix: str) -> Path | None:
    if folder.is_dir() and OutputLayout(folder).tables_dir.is_dir():
        folder = OutputLayout(folder).tables_dir
    hits = sorted(folder.glob(f"*{suffix}"))
    return hits[0] if hits else None


@dataclass
class SetAgreement:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_region: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, ours: set[str], theirs: set[str]) -> None:
        for path in ours | theirs:
            region = path.split("/", 1)[0]
            c = self.per_region.setdefault(region, Counter())
            key = "tp" if path in ours and path in theirs else ("fp" if path in ours else "fn")
            c[key] += 1
            setattr(self, key, getattr(self, key) + 1)

    @staticmethod
    def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@dataclass
class VqaAgreement:
    volumes: int = 0
    abnormal: SetAgreement = field(default_factory=SetAgreement)
    """Top-level regions (RadGenome's ``lung``, ``heart``, ...): granularity-free."""
    negatives: SetAgreement = field(default_factory=SetAgreement)
    abnormal_paths: SetAgreement = field(default_factory=SetAgreement)
    """Every path (``lung/lung/left lung``): also counts granularity differences (ours grounds "both lungs"
    to the left and right lung, RadGenome often to ``lung/lung`` only)."""
    negatives_paths: SetAgreement = field(default_factory=SetAgreement)
    sizes_tp: int = 0
    sizes_ours_only: int = 0
    sizes_theirs_only: int = 0
    theirs_unparsed_sizes: list[str] = field(default_factory=list)
    their_abnormal_we_state_absent: Counter[str] = field(default_factory=Counter)


def _top(paths: set[str]) -> set[str]:
    return {p for p in paths if "/" not in p}


def _by_volume(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        out[normalise_volume(r.get("Volumename", ""))].append(r)
    return out


def _sizes(rows: list[dict[str, str]], unparsed: list[str] | None = None) -> Counter[float]:
    seen: set[tuple[str, str]] = set()
    out: Counter[float] = Counter()
    for r in rows:
        key = (r.get("Abnormality", ""), r.get("Size", ""))
        if key in seen:  # a size repeats at every ancestor path: count it once per finding
            continue
        seen.add(key)
        ms = parse_measurements(r.get("Size", ""))
        if not ms and unparsed is not None:
            unparsed.append(r.get("Size", ""))
        for m in ms:
            out[round(m.largest_mm, 1)] += 1
    return out


def compare(gold_dir: Path, pred_dir: Path) -> VqaAgreement:
    names = ("vqa_abnormality.csv", "vqa_presence.csv", "vqa_size.csv")
    gold = {n: _find(gold_dir, n) for n in names}
    pred = {n: _find(pred_dir, n) for n in names}
    missing = [f"{side}:{n}" for side, d in (("gold", gold), ("pred", pred)) for n, p in d.items() if p is None]
    if missing:
        raise FileNotFoundError(f"missing tables: {', '.join(missing)}")
    g = {n: _by_volume(_rows(p)) for n, p in gold.items() if p}
    q = {n: _by_volume(_rows(p)) for n, p in pred.items() if p}
    vols = sorted(set(g["vqa_abnormality.csv"]) & set(q["vqa_abnormality.csv"]))
    res = VqaAgreement(volumes=len(vols))
    for v in vols:
        ga = {r["Anatomy"] for r in g["vqa_abnormality.csv"][v] if r["Abnormality"] != NO_FINDINGS}
        qa = {r["Anatomy"] for r in q["vqa_abnormality.csv"][v] if r["Abnormality"] != NO_FINDINGS}
        res.abnormal_paths.add(qa, ga)
        res.abnormal.add(_top(qa), _top(ga))
        gn = {r["Anatomy"] for r in g["vqa_presence.csv"].get(v, []) if r["Presence"].startswith("No")}
        qn = {r["Anatomy"] for r in q["vqa_presence.csv"].get(v, []) if r["Presence"].startswith("No")}
        res.negatives_paths.add(qn, gn)
        res.negatives.add(_top(qn), _top(gn))
        our_absent = {
            phrase.strip()
            for r in q["vqa_presence.csv"].get(v, [])
            if r["Presence"].startswith("No")
            for phrase in r["Finding"].split(",")
        }
        for r in g["vqa_abnormality.csv"][v]:
            for phrase in r["Abnormality"].split(","):
                phrase = phrase.strip()
                if phrase and phrase != NO_FINDINGS and phrase in our_absent:
                    res.their_abnormal_we_state_absent[phrase] += 1
        gs = _sizes(g["vqa_size.csv"].get(v, []), res.theirs_unparsed_sizes)
        qs = _sizes(q["vqa_size.csv"].get(v, []))
        common = gs & qs
        res.sizes_tp += sum(common.values())
        res.sizes_theirs_only += sum((gs - common).values())
        res.sizes_ours_only += sum((qs - common).values())
    return res

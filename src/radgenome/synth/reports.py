"""CT-RATE-style synthetic chest CT reports with known truth: the project's test oracle and demo input.

Reports are composed from a catalogue of findings (``data/report_catalogue.json``), location phrases
(``data/report_locations.json``) and sentence templates (``data/report_templates.json``), all written for
radgenome in CT-RATE's formulaic style. Every findings sentence carries its truth: the finest anatomical
nodes it names, each finding phrase with its polarity, the sizes as written and in mm, and change/hedging
attributes. Case-level truth: CT-RATE's 18 labels and the disorders, from the present *and* the hedged
(uncertain) findings — CT-CLIP's manual labels mark a finding that is only hedged ("suspicious for", "cannot be
excluded") positive in about three cases of four, and a mere mention of lymph nodes as Lymphadenopathy.

CT-RATE's quirks appear on purpose at a configurable rate (``quirk_rate``; per report, per quirk kind):
``decimal`` (a size written with one decimal, decided per size), ``window_clause`` ("When examined in the
lung parenchyma window; ..." before the first lung sentence), ``missing_space`` (``lobe.No``),
``double_space``, ``html_remnant`` (``&nbsp;``/``<br>`` between two sentences) and ``numbered_impressions``.
The quirks applied are listed in the truth.

Everything is deterministic per ``(seed, index)``: report ``i`` does not depend on how many are generated.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from radgenome.anatomy import Hierarchy, load_hierarchy, path_sort_key
from radgenome.csvcells import SafeDictWriter
from radgenome.model import Polarity
from radgenome.text.measure import to_mm

__all__ = [
    "CSV_COLUMNS",
    "QUIRKS",
    "Catalogue",
    "CatalogueFinding",
    "FindingSpec",
    "Location",
    "ReportTruth",
    "SyntheticReport",
    "TruthFinding",
    "TruthSentence",
    "TruthSize",
    "generate_report",
    "generate_reports",
    "load_catalogue",
    "region_sentences",
    "write_reports_csv",
    "write_truth_jsonl",
]

CSV_COLUMNS = ("VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN")
QUIRKS = ("decimal", "window_clause", "missing_space", "double_space", "html_remnant", "numbered_impressions")
_NUMBERS = ("singular", "plural", "mass")
_POSITIVE = frozenset({Polarity.PRESENT, Polarity.UNCERTAIN})
"""Polarities that make a finding count for the case labels and disorders (CT-RATE's convention)."""

# How many random findings a report gets (index = count), and other generation rates.
_COUNT_WEIGHTS = (0.15, 0.22, 0.23, 0.17, 0.12, 0.07, 0.04)
_UNCERTAIN_RATE = 0.1
_CHANGE_RATE = 0.15
_NORMAL_RATE = 0.75
_ABSENT_RATE = 0.06
_CM_RATE = 0.5
_DIM_SEPS = (("x", 0.8), (" x ", 0.15), ("*", 0.05))


# ----------------------------------------------------------------------------- catalogue
@dataclass(frozen=True, slots=True)
class Location:
    """A place a finding can be written at: finest nodes, optional side, phrases (with their preposition)."""

    id: str
    nodes: tuple[str, ...]
    side: str | None
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SizeSpec:
    min_mm: int
    max_mm: int
    dims: tuple[int, ...]
    prob: float
    cm_from_mm: int | None = None
    range_prob: float = 0.0


@dataclass(frozen=True, slots=True)
class CatalogueFinding:
    id: str
    phrase: str
    number: str
    disorder: str
    labels: tuple[str, ...]
    slot: str
    locations: tuple[str, ...]
    weight: float
    size: SizeSpec | None
    templates: Mapping[str, tuple[str, ...]]
    impression: tuple[str, ...]
    present_only: bool = False
    extra_nodes: tuple[str, ...] = ()
    """Nodes the finding names itself beside its location ("peribronchial thickening" -> ``bronchie``)."""

    def pool(self, kind: str) -> tuple[str, ...]:
        """Templates of ``kind`` (present, present_sized, present_range, absent, uncertain) for this finding."""
        return self.templates.get(kind, ())


@dataclass(frozen=True, slots=True)
class NormalTemplate:
    text: str
    absent: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    """Nodes of this wording when they differ from the statement's (``the lung parenchyma`` → ``lung``)."""


@dataclass(frozen=True, slots=True)
class NormalStatement:
    id: str
    slot: str
    nodes: tuple[str, ...]
    conflicts: tuple[str, ...]
    templates: tuple[NormalTemplate, ...]


@dataclass(frozen=True)
class Catalogue:
    labels: tuple[str, ...]
    slots: tuple[str, ...]
    findings: dict[str, CatalogueFinding]
    normals: tuple[NormalStatement, ...]
    locations: dict[str, Location]
    text: dict[str, Any]
    node_regions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Multi-parent nodes -> the top-level region(s) the generator's phrases for them name."""
    """The remaining template data (impressions, change attributes, window clauses, remnants, ...)."""

    def finding(self, name: str) -> CatalogueFinding:
        """Look a finding up by id (``lung_nodule``/``lung nodule``), disorder or phrase."""
        key = name.strip().lower()
        if key.replace(" ", "_") in self.findings:
            return self.findings[key.replace(" ", "_")]
        for attr in ("disorder", "phrase"):
            for f in self.findings.values():
                if getattr(f, attr) == key:
                    return f
        raise KeyError(f"no catalogue finding named {name!r}")


def _read_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("radgenome.synth").joinpath("data", name).read_text("utf-8"))
    return data


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _load_locations(data: dict[str, Any]) -> tuple[dict[str, Location], dict[str, tuple[str, ...]]]:
    locs: dict[str, Location] = {}
    for lid, spec in data["locations"].items():
        locs[lid] = Location(lid, tuple(spec["nodes"]), spec.get("side"), tuple(spec["phrases"]))
    for fam in data["families"]:
        lo, hi = fam["range"]
        for n in range(lo, hi + 1):

            def sub(s: str, n: int = n) -> str:
                return s.replace("{n}", str(n)).replace("{ord}", _ordinal(n))

            lid = sub(fam["id"])
            locs[lid] = Location(
                lid, tuple(sub(x) for x in fam["nodes"]), fam.get("side"), tuple(sub(p) for p in fam["phrases"])
            )
    sets = {k: tuple(v) for k, v in data["sets"].items()}
    return locs, sets


def _finding_templates(spec: dict[str, Any], generic: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    own: dict[str, list[str]] = spec.get("templates", {})
    out: dict[str, tuple[str, ...]] = {}
    for kind in ("present", "present_sized", "present_range", "absent", "uncertain"):
        pool = list(own.get(kind, []))
        if not spec.get("own_only"):
            pool += generic.get(kind, {}).get(spec["number"], [])
        if spec.get("present_only") and kind in ("absent", "uncertain"):
            pool = []
        out[kind] = tuple(pool)
    return out


@cache
def load_catalogue() -> Catalogue:
    """The packaged catalogue (cached)."""
    cat, loc_data, text = (
        _read_json("report_catalogue.json"),
        _read_json("report_locations.json"),
        _read_json("report_templates.json"),
    )
    locations, sets = _load_locations(loc_data)
    findings: dict[str, CatalogueFinding] = {}
    for spec in cat["findings"]:
        if spec["number"] not in _NUMBERS:
            raise ValueError(f"finding {spec['id']}: number must be one of {_NUMBERS}")
        loc_ids: list[str] = []
        for ref in spec["locations"]:
            loc_ids.extend(sets.get(ref, (ref,)))
        size = spec.get("size")
        findings[spec["id"]] = CatalogueFinding(
            id=spec["id"],
            phrase=spec["phrase"],
            number=spec["number"],
            disorder=spec["disorder"],
            labels=tuple(spec["labels"]),
            slot=spec["slot"],
            locations=tuple(loc_ids),
            weight=float(spec["weight"]),
            size=SizeSpec(
                min_mm=size["min_mm"],
                max_mm=size["max_mm"],
                dims=tuple(size["dims"]),
                prob=size["prob"],
                cm_from_mm=size.get("cm_from_mm"),
                range_prob=size.get("range_prob", 0.0),
            )
            if size
            else None,
            templates=_finding_templates(spec, text),
            impression=tuple(spec.get("impression", text["impression"])),
            present_only=bool(spec.get("present_only")),
            extra_nodes=tuple(spec.get("extra_nodes", ())),
        )
    normals = tuple(
        NormalStatement(
            id=n["id"],
            slot=n["slot"],
            nodes=tuple(n["nodes"]),
            conflicts=tuple(n.get("conflicts", ())),
            templates=tuple(
                NormalTemplate(t["text"], tuple(t.get("absent", ())), tuple(t.get("nodes", ())))
                for t in n["templates"]
            ),
        )
        for n in cat["normals"]
    )
    catalogue = Catalogue(
        labels=tuple(cat["labels"]),
        slots=tuple(cat["slots"]),
        findings=findings,
        normals=normals,
        locations=locations,
        text=text,
        node_regions={k: tuple(v) for k, v in cat.get("node_regions", {}).items() if not k.startswith("_")},
    )
    _validate(catalogue)
    return catalogue


def _validate(c: Catalogue) -> None:
    problems: list[str] = []
    for f in c.findings.values():
        problems += [f"{f.id}: unknown label {lab!r}" for lab in f.labels if lab not in c.labels]
        problems += [f"{f.id}: unknown location {loc!r}" for loc in f.locations if loc not in c.locations]
        if f.slot not in c.slots:
            problems.append(f"{f.id}: unknown slot {f.slot!r}")
        if not f.pool("present"):
            problems.append(f"{f.id}: no present templates")
        if f.size is not None and not f.pool("present_sized"):
            problems.append(f"{f.id}: a size but no present_sized templates")
    for n in c.normals:
        if n.slot not in c.slots:
            problems.append(f"{n.id}: unknown slot {n.slot!r}")
        for t in n.templates:
            problems += [f"{n.id}: {a!r} not in {t.text!r}" for a in t.absent if a not in t.text.lower()]
    if problems:
        raise ValueError("invalid report catalogue: " + "; ".join(problems))


# ----------------------------------------------------------------------------- truth
@dataclass(frozen=True, slots=True)
class TruthSize:
    text: str
    """As written in the sentence, e.g. ``6x4 mm``."""
    values_mm: tuple[float, ...]
    largest_mm: float
    kind: str = "measured"
    """``measured``, or ``upper_bound`` when the template bounds it ("not exceeding {size}", "less than {size}"):
    only measured sizes answer a finding's size."""


@dataclass(frozen=True, slots=True)
class TruthFinding:
    finding_id: str
    phrase: str
    """Lower-case; appears verbatim (case-insensitively) in the sentence. In an impression that names the
    finding by its diagnosis instead ("Cholelithiasis."), the disorder name."""
    polarity: Polarity
    nodes: tuple[str, ...]
    side: str | None = None
    disorder: str = ""
    labels: tuple[str, ...] = ()
    sizes: tuple[TruthSize, ...] = ()
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TruthSentence:
    text: str
    start: int
    end: int
    """Span of ``text`` in its section's text."""
    section: str
    """``findings`` or ``impressions``."""
    kind: str
    """``finding`` (a catalogue finding, any polarity), ``normal`` (a normal statement) or ``impression``."""
    nodes: tuple[str, ...]
    findings: tuple[TruthFinding, ...] = ()

    @property
    def phrases(self) -> tuple[str, ...]:
        return tuple(f.phrase for f in self.findings)

    @property
    def polarity(self) -> dict[str, Polarity]:
        return {f.phrase: f.polarity for f in self.findings}

    @property
    def sizes(self) -> tuple[TruthSize, ...]:
        return tuple(s for f in self.findings for s in f.sizes)


@dataclass(frozen=True, slots=True)
class ReportTruth:
    sentences: tuple[TruthSentence, ...]
    """Findings sentences in text order."""
    impressions: tuple[TruthSentence, ...]
    labels: dict[str, int]
    """CT-RATE's 18 labels, in order, 0/1."""
    disorders: tuple[str, ...]
    quirks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def sent(s: TruthSentence) -> dict[str, Any]:
            return {
                "text": s.text,
                "start": s.start,
                "end": s.end,
                "kind": s.kind,
                "nodes": list(s.nodes),
                "findings": [
                    {
                        "id": f.finding_id,
                        "phrase": f.phrase,
                        "polarity": str(f.polarity),
                        "nodes": list(f.nodes),
                        "side": f.side,
                        "disorder": f.disorder,
                        "labels": list(f.labels),
                        "sizes": [
                            {"text": z.text, "values_mm": list(z.values_mm), "largest_mm": z.largest_mm,
                             "kind": z.kind}
                            for z in f.sizes
                        ],
                        "attributes": list(f.attributes),
                    }
                    for f in s.findings
                ],
            }

        return {
            "sentences": [sent(s) for s in self.sentences],
            "impressions": [sent(s) for s in self.impressions],
            "labels": dict(self.labels),
            "disorders": list(self.disorders),
            "quirks": list(self.quirks),
        }


@dataclass(frozen=True, slots=True)
class SyntheticReport:
    volume: str
    findings_text: str
    impressions_text: str
    truth: ReportTruth
    clinical: str = ""
    technique: str = ""

    def row(self) -> dict[str, str]:
        """The report as one CT-RATE CSV row."""
        return dict(zip(CSV_COLUMNS, (self.volume, self.clinical, self.technique, self.findings_text,
                                      self.impressions_text), strict=True))


@dataclass(frozen=True, slots=True)
class FindingSpec:
    """A finding to force into a report, e.g. ``FindingSpec("lung nodule", node="right lung upper lobe", size_mm=12)``.

    ``finding``: catalogue id, disorder or phrase. ``node``: the finest node it must sit at (a location of the
    finding naming exactly that node is chosen). ``side``: ``left``/``right``/``bilateral`` where locations
    have sides (pleura, kidneys, ...). ``size_mm``: one value or dimensions, written in mm.
    """

    finding: str
    node: str | None = None
    side: str | None = None
    size_mm: float | tuple[float, ...] | None = None
    polarity: Polarity = Polarity.PRESENT


# ----------------------------------------------------------------------------- rendering helpers
def _fmt(v: float) -> str:
    return f"{v:g}"


def _article(word: str) -> str:
    w = word.lower()
    if w[:1].isdigit():
        head = re.match(r"\d+", w)
        n = head.group(0) if head else w
        return "an" if n.startswith("8") or n in ("11", "18") else "a"
    return "an" if w[:1] in "aeiou" else "a"


_ARTICLE = re.compile("\x00([Aa]) (\\S+)")


def _fix_articles(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        art = _article(m.group(2))
        return (art.capitalize() if m.group(1) == "A" else art) + " " + m.group(2)

    return _ARTICLE.sub(repl, text)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _render(template: str, phrase: str, loc: str, size: str = "") -> str:
    text = template.format(
        A="\x00A", a="\x00a", finding=phrase, Finding=_cap(phrase), loc=loc, Loc=_cap(loc), size=size
    )
    text = _fix_articles(text)
    text = re.sub(r" {2,}", " ", text)
    text = re.sub(r" +([.,)])", r"\1", text).strip()
    return _cap(text)


def _weighted(rng: random.Random, items: Sequence[tuple[str, float]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


@dataclass(slots=True)
class _Planned:
    finding: CatalogueFinding
    location: Location
    polarity: Polarity
    size: TruthSize | None = None
    decimal: bool = False


def _size_truth(text: str, values: Sequence[float], unit: str) -> TruthSize:
    mm = tuple(to_mm(v, unit) for v in values)
    return TruthSize(text, mm, max(mm))


def _write_size(values: Sequence[float], unit: str, sep: str, space: bool, range_: bool = False) -> TruthSize:
    nums = [_fmt(v) for v in values]
    text = ("-" if range_ else sep).join(nums) + (" " if space else "") + unit
    return _size_truth(text, values, unit)


def _random_size(rng: random.Random, spec: SizeSpec, plural: bool, quirk_rate: float) -> tuple[TruthSize, bool]:
    largest = rng.randint(spec.min_mm, spec.max_mm)
    dims = rng.choice(spec.dims)
    lo = max(spec.min_mm, math.ceil(largest * 0.5))
    others = sorted((float(rng.randint(lo, largest)) for _ in range(dims - 1)), reverse=True)
    values: list[float] = [float(largest), *others]
    range_ = plural and dims == 1 and largest > spec.min_mm and rng.random() < spec.range_prob
    if range_:
        values = [float(rng.randint(spec.min_mm, largest - 1)), float(largest)]
    sep = _weighted(rng, _DIM_SEPS)
    space = rng.random() < 0.9
    if spec.cm_from_mm is not None and largest >= spec.cm_from_mm and rng.random() < _CM_RATE:
        return _write_size([v / 10 for v in values], "cm", sep, space, range_), False
    decimal = not range_ and rng.random() < quirk_rate
    if decimal:
        values = [v + rng.randint(1, 9) / 10 for v in values]
        values = [values[0], *sorted(values[1:], reverse=True)]
    return _write_size(values, "mm", sep, space, range_), decimal


# ----------------------------------------------------------------------------- planning
def _resolve(spec: FindingSpec, cat: Catalogue, rng: random.Random) -> _Planned:
    f = cat.finding(spec.finding)
    locs = [cat.locations[i] for i in f.locations]
    if spec.node is not None:
        exact = [loc for loc in locs if loc.nodes == (spec.node,)]
        locs = exact or [loc for loc in locs if spec.node in loc.nodes]
    if spec.side is not None:
        locs = [loc for loc in locs if loc.side == spec.side]
    if not locs:
        raise ValueError(
            f"finding {f.id!r} has no location for node={spec.node!r} side={spec.side!r}; "
            f"known: {sorted({n for i in f.locations for n in cat.locations[i].nodes})}"
        )
    polarity = Polarity(spec.polarity)
    kind = {Polarity.ABSENT: "absent", Polarity.UNCERTAIN: "uncertain"}.get(polarity, "present")
    if not f.pool(kind):
        raise ValueError(f"finding {f.id!r} cannot be written as {polarity}")
    size = None
    if spec.size_mm is not None:
        values = spec.size_mm if isinstance(spec.size_mm, tuple) else (spec.size_mm,)
        size = _write_size([float(v) for v in values], "mm", "x", True)
    return _Planned(f, rng.choice(locs), polarity, size if polarity is Polarity.PRESENT else None)


def _random_plan(rng: random.Random, cat: Catalogue, quirk_rate: float) -> list[_Planned]:
    count = rng.choices(range(len(_COUNT_WEIGHTS)), weights=_COUNT_WEIGHTS)[0]
    pool = list(cat.findings.values())
    plan: list[_Planned] = []
    used: set[tuple[str, tuple[str, ...]]] = set()
    for _ in range(count * 3):
        if len(plan) >= count:
            break
        f = rng.choices(pool, weights=[x.weight for x in pool])[0]
        loc = cat.locations[rng.choice(f.locations)]
        if (f.disorder, loc.nodes) in used or any(p.finding.id == f.id for p in plan):
            continue
        used.add((f.disorder, loc.nodes))
        uncertain = f.pool("uncertain") and rng.random() < _UNCERTAIN_RATE
        item = _Planned(f, loc, Polarity.UNCERTAIN if uncertain else Polarity.PRESENT)
        if f.size is not None and not uncertain and rng.random() < f.size.prob:
            item.size, item.decimal = _random_size(rng, f.size, f.number == "plural", quirk_rate)
        plan.append(item)
    return plan


# ----------------------------------------------------------------------------- sentences
def _uncertain_cues(template: str, cat: Catalogue) -> tuple[str, ...]:
    low = template.lower()
    return tuple(v for k, v in cat.text["uncertain_attributes"].items() if k in low)


_BOUNDED_SIZE = re.compile(r"(?:not exceeding|less than|below|smaller than)\s+\{size\}")


def _finding_sentence(item: _Planned, rng: random.Random, cat: Catalogue) -> TruthSentence:
    f, loc = item.finding, item.location
    phrase_loc = rng.choice(loc.phrases)
    attributes: tuple[str, ...] = ()
    if item.polarity is Polarity.ABSENT:
        pool = f.pool("absent")
    elif item.polarity is Polarity.UNCERTAIN:
        pool = f.pool("uncertain")
    elif item.size is not None:
        ranged = "-" in item.size.text and f.pool("present_range")
        pool = f.pool("present_range") if ranged else f.pool("present_sized")
    else:
        pool = f.pool("present")
    if not phrase_loc:
        pool = tuple(t for t in pool if "{Loc}" not in t) or pool
    template = rng.choice(pool)
    text = _render(template, f.phrase, phrase_loc, item.size.text if item.size else "")
    if item.polarity is Polarity.UNCERTAIN:
        attributes = _uncertain_cues(template, cat)
    elif item.polarity is Polarity.PRESENT and rng.random() < _CHANGE_RATE:
        change = rng.choice(cat.text["change_attributes"])
        text = text[:-1] + change["suffix"] + "."
        attributes = tuple(change["attributes"])
    size = item.size
    if size is not None and _BOUNDED_SIZE.search(template):
        size = replace(size, kind="upper_bound")
    nodes = tuple(dict.fromkeys((*loc.nodes, *f.extra_nodes)))
    truth = TruthFinding(
        finding_id=f.id,
        phrase=f.phrase,
        polarity=item.polarity,
        nodes=nodes,
        side=loc.side,
        disorder=f.disorder,
        labels=f.labels,
        sizes=(size,) if size is not None and "{size}" in template else (),
        attributes=attributes,
    )
    return TruthSentence(text, 0, 0, "findings", "finding", nodes, (truth,))


def _normal_sentence(n: NormalStatement, rng: random.Random) -> TruthSentence:
    t = rng.choice(n.templates)
    nodes = t.nodes or n.nodes
    findings = tuple(
        TruthFinding(finding_id=n.id, phrase=a, polarity=Polarity.ABSENT, nodes=nodes) for a in t.absent
    )
    return TruthSentence(t.text, 0, 0, "findings", "normal", nodes, findings)


def _conflicts(n: NormalStatement, disorders: set[str], slots: set[str]) -> bool:
    for c in n.conflicts:
        if c.startswith("slot:"):
            if c[5:] in slots:
                return True
        elif c in disorders:
            return True
    return False


def _slot_sentences(
    slot: str, plan: list[_Planned], rng: random.Random, cat: Catalogue, disorders: set[str], slots: set[str]
) -> list[TruthSentence]:
    out = [_normal_sentence(n, rng) for n in cat.normals
           if n.slot == slot and not _conflicts(n, disorders, slots) and rng.random() < _NORMAL_RATE]
    out += [_finding_sentence(item, rng, cat) for item in plan if item.finding.slot == slot]
    taken_labels = {lab for item in plan if item.polarity is not Polarity.ABSENT for lab in item.finding.labels}
    for f in cat.findings.values():
        if f.slot != slot or f.disorder in disorders or taken_labels.intersection(f.labels):
            continue  # never state absent what the report says is there (or may be there)
        if f.pool("absent") and rng.random() < _ABSENT_RATE:
            loc = cat.locations[rng.choice(f.locations)]
            out.append(_finding_sentence(_Planned(f, loc, Polarity.ABSENT), rng, cat))
    if slot != "lung":
        rng.shuffle(out)
    return out


# ----------------------------------------------------------------------------- assembly
def _join(
    sentences: list[TruthSentence], rng: random.Random, quirk_rate: float, cat: Catalogue, quirks: list[str]
) -> tuple[str, list[TruthSentence]]:
    n = len(sentences)
    seps = [" "] * max(n - 1, 0)
    free = list(range(len(seps)))
    rng.shuffle(free)
    wanted = [q for q in ("missing_space", "double_space", "html_remnant") if rng.random() < quirk_rate]
    for q in wanted:
        while free:
            i = free.pop()
            nxt = sentences[i + 1].text
            if q == "missing_space" and not (sentences[i].text.endswith(".") and nxt[:1].isupper()):
                continue
            if q == "html_remnant":
                seps[i] = rng.choice(cat.text["html_remnants"])
            else:
                seps[i] = "" if q == "missing_space" else "  "
            quirks.append(q)
            break
    parts: list[str] = []
    placed: list[TruthSentence] = []
    pos = 0
    for i, s in enumerate(sentences):
        parts.append(s.text)
        placed.append(TruthSentence(s.text, pos, pos + len(s.text), s.section, s.kind, s.nodes, s.findings))
        pos += len(s.text)
        if i < len(seps):
            parts.append(seps[i])
            pos += len(seps[i])
    return "".join(parts), placed


def _impressions(
    plan: list[_Planned], rng: random.Random, cat: Catalogue, quirk_rate: float, quirks: list[str]
) -> tuple[str, tuple[TruthSentence, ...]]:
    items: list[tuple[str, tuple[str, ...], tuple[TruthFinding, ...]]] = []
    for item in plan:
        f = item.finding
        template = rng.choice(f.impression)
        text = _render(template, f.phrase, rng.choice(item.location.phrases))
        if item.polarity is Polarity.UNCERTAIN:
            text = f"{text} (suspicious)"
        text += "."
        phrase = f.phrase if f.phrase in text.lower() else f.disorder
        tf = TruthFinding(f.id, phrase, item.polarity, item.location.nodes, item.location.side, f.disorder,
                          f.labels, attributes=("suspicious",) if item.polarity is Polarity.UNCERTAIN else ())
        items.append((text, item.location.nodes, (tf,)))
    if not items:
        items.append((rng.choice(cat.text["impression_normal"]), (), ()))
    numbered = len(items) > 1 and rng.random() < quirk_rate
    if numbered:
        quirks.append("numbered_impressions")
    pos, parts, out = 0, [], []
    for i, (text, nodes, findings) in enumerate(items):
        prefix = (" " if i == 0 else "  ") + (f"{i + 1}. " if numbered else "")
        parts.append(prefix + text)
        pos += len(prefix)
        out.append(TruthSentence(text, pos, pos + len(text), "impressions", "impression", nodes, findings))
        pos += len(text)
    return "".join(parts), tuple(out)


def _volume_name(prefix: str, index: int) -> str:
    return f"{prefix}_{index + 1}_a_1.nii.gz"


def generate_report(
    seed: int = 0,
    *,
    index: int = 0,
    volume: str | None = None,
    volume_prefix: str = "train",
    findings: Sequence[FindingSpec] | None = None,
    extra_findings: bool = False,
    quirk_rate: float = 0.1,
    skip_slots: Collection[str] = (),
) -> SyntheticReport:
    """One synthetic report; deterministic in ``(seed, index)``.

    ``findings`` forces these findings (and, unless ``extra_findings``, only these) into the report; the rest
    of the report is normal statements and stated negatives that do not contradict them. ``skip_slots``
    leaves whole parts of the report out (``{"breast"}`` for a CT without breasts).
    """
    cat = load_catalogue()
    rng = random.Random(f"radgenome-report-{seed}-{index}")
    plan = [_resolve(s, cat, rng) for s in findings] if findings is not None else []
    if findings is None or extra_findings:
        taken = {p.finding.disorder for p in plan}
        plan += [p for p in _random_plan(rng, cat, quirk_rate) if p.finding.disorder not in taken]
    disorders = {p.finding.disorder for p in plan if p.polarity is not Polarity.ABSENT}
    slots = {p.finding.slot for p in plan if p.polarity is not Polarity.ABSENT}
    quirks: list[str] = ["decimal"] if any(p.decimal for p in plan) else []

    sentences: list[TruthSentence] = []
    for slot in cat.slots:
        if slot in skip_slots:
            continue
        block = _slot_sentences(slot, plan, rng, cat, disorders, slots)
        if slot == "lung" and block and rng.random() < quirk_rate:
            first = block[0]
            text = rng.choice(cat.text["window_clauses"]) + first.text
            block[0] = TruthSentence(text, 0, 0, first.section, first.kind, first.nodes, first.findings)
            quirks.append("window_clause")
        sentences += block
    findings_text, placed = _join(sentences, rng, quirk_rate, cat, quirks)
    impressions_text, impressions = _impressions(
        [p for p in plan if p.polarity is not Polarity.ABSENT], rng, cat, quirk_rate, quirks
    )
    present = [p.finding for p in plan if p.polarity in _POSITIVE]
    labels = {lab: int(any(lab in f.labels for f in present)) for lab in cat.labels}
    case_disorders = tuple(dict.fromkeys(f.disorder for f in present))
    truth = ReportTruth(tuple(placed), impressions, labels, case_disorders,
                        tuple(q for q in QUIRKS if q in quirks))
    return SyntheticReport(
        volume=volume or _volume_name(volume_prefix, index),
        findings_text=findings_text,
        impressions_text=impressions_text,
        truth=truth,
        clinical=rng.choice(cat.text["clinical"]),
        technique=rng.choice(cat.text["technique"]),
    )


def generate_reports(
    n: int,
    seed: int = 0,
    *,
    volume_prefix: str = "train",
    findings: Sequence[FindingSpec] | None = None,
    volume_names: Sequence[str] | None = None,
    extra_findings: bool = False,
    quirk_rate: float = 0.1,
) -> list[SyntheticReport]:
    """``n`` synthetic reports named ``{volume_prefix}_{i}_a_1.nii.gz`` (or ``volume_names``), deterministic per seed.

    ``findings`` (optional) are forced into every report (see :func:`generate_report`).
    """
    if volume_names is not None and len(volume_names) != n:
        raise ValueError(f"volume_names has {len(volume_names)} names for {n} reports")
    return [
        generate_report(
            seed,
            index=i,
            volume=volume_names[i] if volume_names is not None else None,
            volume_prefix=volume_prefix,
            findings=findings,
            extra_findings=extra_findings,
            quirk_rate=quirk_rate,
        )
        for i in range(n)
    ]


# ----------------------------------------------------------------------------- oracle views
def region_sentences(report: SyntheticReport, hierarchy: Hierarchy | None = None) -> dict[str, list[str]]:
    """The truth as RadGenome region rows: path → the findings sentences on that node or below, in order.

    Independent of the text engine (an oracle for its region-report writer): each sentence's nodes are
    expanded over their RadGenome paths, so a sentence also appears at every ancestor path. A node under two
    top-level regions (``aorta``) keeps only the region(s) the catalogue says its phrases name
    (``node_regions``: the generator's aorta is always the thoracic one).
    """
    h = hierarchy or load_hierarchy()
    regions = load_catalogue().node_regions
    rows: dict[str, list[str]] = {}
    for s in report.truth.sentences:
        paths: set[str] = set()
        for node in s.nodes:
            for path in h.paths(node):
                if node in regions and path.split("/", 1)[0] not in regions[node]:
                    continue
                parts = path.split("/")
                paths.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        for path in sorted(paths, key=path_sort_key):
            rows.setdefault(path, []).append(s.text)
    return rows


# ----------------------------------------------------------------------------- writers
def write_reports_csv(reports: Iterable[SyntheticReport], path: str | Path) -> Path:
    """Write CT-RATE's report columns (``VolumeName,ClinicalInformation_EN,...``), UTF-8, RFC 4180 quoting, cells
    escaped against spreadsheet formulas (:mod:`radgenome.csvcells`; the reports reader undoes it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = SafeDictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for r in reports:
            writer.writerow(r.row())
    return path


def write_truth_jsonl(reports: Iterable[SyntheticReport], path: str | Path) -> Path:
    """One JSON object per report: ``{"volume": ..., **truth.to_dict()}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in reports:
            fh.write(json.dumps({"volume": r.volume, **r.truth.to_dict()}, ensure_ascii=False) + "\n")
    return path


"""Reports in, analysed sentences and findings out: the types every text backend produces and every later stage
reads (the case record, the tables, the Parquet rows, the review app).

Plain slotted dataclasses (not pydantic): the rule engine creates millions of them and must stay fast.
Every text backend (rules, llm, hybrid) produces these same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Section(StrEnum):
    CLINICAL = "clinical"
    TECHNIQUE = "technique"
    FINDINGS = "findings"
    IMPRESSIONS = "impressions"


class Polarity(StrEnum):
    PRESENT = "present"
    """The report states the finding exists."""
    ABSENT = "absent"
    """The report states the finding is not there ("No pleural effusion", "was not observed")."""
    UNCERTAIN = "uncertain"
    """Hedged: "suspicious for", "cannot be excluded", "?"."""


@dataclass(slots=True)
class Report:
    """One row of a CT-RATE-style reports table."""

    volume: str
    findings: str = ""
    impressions: str = ""
    clinical: str = ""
    technique: str = ""
    row: int = 0
    """1-based data row number in the source CSV (0 when not from a file)."""

    def section_text(self, section: Section) -> str:
        return {
            Section.CLINICAL: self.clinical,
            Section.TECHNIQUE: self.technique,
            Section.FINDINGS: self.findings,
            Section.IMPRESSIONS: self.impressions,
        }[section]


class SizeKind(StrEnum):
    """What a written size says about the finding now."""

    MEASURED = "measured"
    """A current size, as measured ("a 6 mm nodule", "measuring 12x8 mm")."""
    UPPER_BOUND = "upper_bound"
    """At most this size ("a short axis not exceeding 1 cm", "up to 5 mm", "less than 1 cm")."""
    LOWER_BOUND = "lower_bound"
    """At least this size ("more than 2 cm", "exceeding 10 mm")."""
    PRIOR = "prior"
    """A size from an earlier examination ("(8.5 mm in diameter in the previous examination)", "from 8 mm")."""


@dataclass(slots=True)
class Measurement:
    """A size written in the text, normalised to millimetres."""

    text: str
    """As written, e.g. ``6x4 mm``, ``1.5 x 2 cm``."""
    values: tuple[float, ...]
    unit: str
    """``mm`` or ``cm`` (as written; ``millimetric``-style words are not measurements)."""
    values_mm: tuple[float, ...]
    largest_mm: float
    start: int
    end: int
    """Character span in the sentence."""
    kind: SizeKind = SizeKind.MEASURED
    """Only ``measured`` sizes answer "what is the size of ..." (VQA size rows, ``size_mm``); bounds and earlier
    sizes are kept as written with their kind."""


@dataclass(slots=True)
class Finding:
    """One finding phrase of a sentence with its polarity."""

    phrase: str
    """Lower-case finding phrase, e.g. ``ground glass areas``."""
    polarity: Polarity
    nodes: tuple[str, ...] = ()
    """Anatomical nodes of this finding (defaults to the sentence's nodes)."""
    measurements: tuple[Measurement, ...] = ()
    attributes: tuple[str, ...] = ()
    """Hedging / comparison / change words, e.g. ``regressed``, ``compared to the previous examination``."""

    @property
    def measured(self) -> tuple[Measurement, ...]:
        """The current measured sizes (no bounds, no earlier examination's sizes): what answers its size."""
        return tuple(m for m in self.measurements if m.kind is SizeKind.MEASURED)


@dataclass(slots=True)
class Sentence:
    """One sentence of a report section, grounded and analysed."""

    volume: str
    section: Section
    index: int
    """0-based index within the report (over all sections, in report order)."""
    text: str
    start: int
    end: int
    """Character span of ``text`` in the section's (cleaned) text."""
    nodes: tuple[str, ...] = ()
    """Finest anatomical nodes the sentence is about (``others`` when none of the regions)."""
    node_paths: tuple[str, ...] = ()
    """The RadGenome paths chosen for ``nodes`` in this sentence, in node order: every path of a node, except that a
    node with parents under two top-level regions (``aorta``) keeps only the region its qualifier names
    (:func:`radgenome.anatomy.choose_paths`). Empty: not recorded (older records, other backends) — read the
    choice through :meth:`chosen_paths`, which makes it from the text then."""
    grounding_confidence: float = 1.0
    findings: list[Finding] = field(default_factory=list)
    measurements: tuple[Measurement, ...] = ()
    marker: str = ""
    """A list marker that preceded the sentence (``1.``, ``-``) and is not part of ``text``."""
    flags: tuple[str, ...] = ()
    backend: str = "rules"

    def chosen_paths(self) -> tuple[str, ...]:
        """The RadGenome paths of ``nodes`` in this sentence, in node order: the recorded ``node_paths`` of each
        node, else (not recorded, or a node changed since, e.g. by a reviewer) the choice made from the text."""
        if not self.nodes:
            return ()
        from radgenome.anatomy.paths import resolve_paths

        return resolve_paths(tuple(self.nodes), tuple(self.node_paths), self.text)

    def paths_of(self, node: str) -> tuple[str, ...]:
        """The paths of one node (of the sentence or of one of its findings) as this sentence places it."""
        from radgenome.anatomy import paths_of

        return paths_of(node, self.chosen_paths(), self.text)

    def expanded_paths(self) -> tuple[str, ...]:
        """The chosen paths and every ancestor path: the region-report rows this sentence appears in."""
        from radgenome.anatomy.paths import expand_chosen

        return expand_chosen(self.chosen_paths())

    @property
    def polarity(self) -> Polarity | None:
        """Sentence-level polarity: present if any finding is present, else uncertain, else absent."""
        best: Polarity | None = None
        for f in self.findings:
            if f.polarity is Polarity.PRESENT:
                return Polarity.PRESENT
            if f.polarity is Polarity.UNCERTAIN or best is None:
                best = f.polarity
        return best


@dataclass(slots=True, repr=False)
class ReportAnalysis:
    """Everything the text stages know about one report.

    Its ``repr`` lists the sentences with the RadGenome paths they are grounded to and their findings
    (``+`` present, ``-`` absent, ``?`` uncertain), e.g.::

        <ReportAnalysis 'valid_1_a_1' (rules): 2 sentences, disorders: lung nodule>
          [0] findings: 'There is a 6 mm nodule in the right lung upper lobe.'
              lung/lung/right lung/right lung upper lobe
              + nodule (6 mm)
    """

    report: Report
    sentences: list[Sentence]
    disorders: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    backend: str = "rules"
    version: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def volume(self) -> str:
        return self.report.volume

    def section_sentences(self, section: Section) -> list[Sentence]:
        return [s for s in self.sentences if s.section == section]

    def __repr__(self) -> str:
        disorders = ", ".join(self.disorders) or "none"
        lines = [
            f"<ReportAnalysis {self.volume!r} ({self.backend}): {len(self.sentences)} sentences, "
            f"disorders: {disorders}>"
        ]
        for s in self.sentences:
            lines.append(f"  [{s.index}] {s.section.value}: {s.text!r}")
            try:
                paths = list(s.chosen_paths())
            except KeyError:  # a node outside the hierarchy: show it as it is
                paths = list(s.nodes)
            if paths:
                lines.append(f"      {', '.join(paths)}")
            for f in s.findings:
                sizes = ", ".join(
                    m.text if m.kind is SizeKind.MEASURED else f"{m.text}: {m.kind}" for m in f.measurements
                )
                lines.append(f"      {_MARK[f.polarity]} {f.phrase}" + (f" ({sizes})" if sizes else ""))
        return "\n".join(lines)


_MARK = {Polarity.PRESENT: "+", Polarity.ABSENT: "-", Polarity.UNCERTAIN: "?"}

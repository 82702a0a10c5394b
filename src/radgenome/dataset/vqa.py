"""VQA pairs in RadGenome-Chest CT's five kinds, from the project's own question templates.

Kinds (``data/vqa_templates.toml`` holds several phrasings each):

- ``abnormality``: per region with sentences — the stated (present or uncertain) finding phrases, or
  ``no findings``; the same content as ``{split}_vqa_abnormality.csv``.
- ``location``: per stated finding phrase — the readable names of the regions it is grounded to.
- ``presence``: per (finding, region) the report states — ``Yes`` for present findings, ``No`` for stated
  negatives. Unstated findings never produce a question; uncertain ones and contradictions are skipped.
- ``size``: per measured stated finding and region — the size as written, with mm when written otherwise (only
  current measured sizes: a bound such as "not exceeding 1 cm" or an earlier examination's size is no answer).
- ``disorders``: per volume — the case-level diagnoses, or ``no findings``.

Region-level kinds except ``location`` also get a ``given_region`` variant (the region's mask is an input)
when the region's mask status is ``ok``. The template is drawn with ``random.Random`` seeded by a SHA-256 of
(seed, volume, kind, path, finding): stable across processes and Python versions.
"""

from __future__ import annotations

import hashlib
import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from radgenome.anatomy import Hierarchy, load_hierarchy
from radgenome.dataset.mask_refs import MaskResolver
from radgenome.dataset.records import QA_KINDS, MaskReference, Provenance, QAPair
from radgenome.dataset.tables import PathContent, grounded_sentences, path_contents
from radgenome.model import CaseRecord, Measurement, Polarity, ReportAnalysis, Section, Sentence


@dataclass(frozen=True)
class Template:
    id: str
    kind: str
    variant: str
    text: str


@dataclass(frozen=True)
class TemplateSet:
    templates: dict[tuple[str, str], tuple[Template, ...]]
    """(kind, variant) -> templates, in file order."""
    region_names: dict[str, str]
    answers: dict[str, str]

    def choose(self, kind: str, variant: str, rng: random.Random) -> Template:
        options = self.templates.get((kind, variant))
        if not options:
            raise KeyError(f"no {variant!r} template for VQA kind {kind!r}")
        return options[rng.randrange(len(options))]


@cache
def load_templates() -> TemplateSet:
    raw = tomllib.loads(resources.files("radgenome.dataset").joinpath("data/vqa_templates.toml").read_text("utf-8"))
    by_key: dict[tuple[str, str], list[Template]] = {}
    ids: set[str] = set()
    for kind in QA_KINDS:
        for entry in raw.get(kind, []):
            t = Template(id=str(entry["id"]), kind=kind, variant=str(entry["variant"]), text=str(entry["text"]))
            if t.id in ids:
                raise ValueError(f"vqa_templates.toml: duplicate template id {t.id!r}")
            ids.add(t.id)
            by_key.setdefault((kind, t.variant), []).append(t)
    return TemplateSet(
        templates={k: tuple(v) for k, v in by_key.items()},
        region_names=dict(raw.get("region_names", {})),
        answers=dict(raw["answers"]),
    )


def stable_rng(seed: int, volume: str, kind: str, path: str, finding: str) -> random.Random:
    """A generator seeded from a SHA-256 of the parts (Python's ``hash`` is salted per process)."""
    key = "\x1f".join((str(seed), volume, kind, path, finding)).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def readable_region(path_or_node: str) -> str:
    """``lung/lung/left lung/left lung upper lobe`` -> ``left lung upper lobe``; ``trachea and bronchie`` ->
    ``trachea and bronchi`` (names from the templates file)."""
    last = path_or_node.rstrip("/").rsplit("/", 1)[-1]
    return load_templates().region_names.get(last, last)


_SINGULAR_ENDINGS = ("ss", "us", "is", "ys", "as", "os", "xs")


def is_plural(phrase: str) -> bool:
    """Whether a finding phrase reads as plural (``emphysematous changes``, ``sequelae``; not ``atelectasis``)."""
    words = phrase.split()
    if not words:
        return False
    last = words[-1].lower()
    return last.endswith("ae") or (last.endswith("s") and len(last) > 2 and not last.endswith(_SINGULAR_ENDINGS))


def agreement(finding: str | None) -> dict[str, str]:
    plural = bool(finding) and is_plural(str(finding))
    return {"is": "are", "Is": "Are", "does": "do"} if plural else {"is": "is", "Is": "Is", "does": "does"}


def join_names(names: list[str], conj: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + conj + names[-1]


def size_text(measurements: tuple[Measurement, ...]) -> str:
    """Sizes as written; a size written in another unit gets its mm value (``1.2 cm (12 mm)``)."""
    parts = []
    for m in measurements:
        if m.unit == "mm":
            parts.append(m.text)
        else:
            parts.append(f"{m.text} ({'x'.join(f'{v:g}' for v in m.values_mm)} mm)")
    return ", ".join(parts)


def provenance_of(rec: CaseRecord, seed: int | None) -> Provenance:
    from radgenome import __version__

    p = rec.provenance
    seg_backend = rec.masks.backend or p.seg_backend
    seg_version = rec.masks.version or p.seg_version
    return Provenance(
        text_backend=rec.analysis.backend,
        text_version=rec.analysis.version,
        seg_backend=str(seg_backend) if seg_backend is not None else None,
        seg_version=str(seg_version) if seg_version is not None else None,
        radgenome_version=p.radgenome_version or __version__,
        seed=seed,
    )


@dataclass
class _Ctx:
    rec: CaseRecord
    split: str
    seed: int
    masks: MaskResolver
    h: Hierarchy
    prov: Provenance
    templates: TemplateSet
    out: list[QAPair]

    def add(
        self,
        kind: str,
        variant: str,
        *,
        answer: str,
        path: str | None,
        node: str | None,
        finding: str | None,
        sentences: list[int],
        mask: MaskReference | None,
        answer_paths: list[str] | None = None,
        size_mm: float | None = None,
    ) -> None:
        rng = stable_rng(self.seed, self.rec.volume, kind, path or "", finding or "")
        template = self.templates.choose(kind, variant, rng)
        region = readable_region(path) if path else None
        question = template.text.format(region=region or "", finding=finding or "", **agreement(finding))
        self.out.append(
            QAPair(
                qa_id=f"{self.rec.stem}:{len(self.out):05d}",
                volume=self.rec.volume,
                stem=self.rec.stem,
                split=self.split,
                kind=kind,  # type: ignore[arg-type]
                variant=variant,  # type: ignore[arg-type]
                question=question,
                answer=answer,
                path=path,
                node=node,
                region=region,
                finding=finding,
                answer_paths=list(answer_paths or []),
                size_mm=size_mm,
                mask=mask,
                sentence_indices=sorted(set(sentences)),
                template_id=template.id,
                volume_path=self.rec.volume_path,
                volume_corpus_path=self.rec.volume_corpus_path,
                labelmap=self.rec.masks.labelmap,
                provenance=self.prov,
            )
        )

    def add_region(self, kind: str, *, path: str, node: str, **fields: Any) -> None:
        """The open question, and the given-region one when the region has a mask."""
        mask = self.masks.ref(node)
        self.add(kind, "open", path=path, node=node, mask=mask, **fields)
        if mask.status == "ok":
            self.add(kind, "given_region", path=path, node=node, mask=mask, **fields)


def _finding_nodes(sent: Sentence) -> Iterator[tuple[str, str, Any]]:
    """(node, its path as the sentence places it, finding) for every node of every finding."""
    for finding in sent.findings:
        for node in finding.nodes or sent.nodes:
            yield node, sent.paths_of(node)[0], finding


def _abnormality(ctx: _Ctx, contents: dict[str, PathContent]) -> None:
    no_findings = ctx.templates.answers["no_findings"]
    seen_nodes: set[str] = set()
    for path, content in contents.items():
        node = ctx.h.node_of_path(path)
        if not content.sentences or node in seen_nodes:
            continue
        seen_nodes.add(node)
        phrases = list(dict.fromkeys(f.phrase for f in content.stated))
        ctx.add_region(
            "abnormality",
            path=path,
            node=node,
            answer=", ".join(phrases) or no_findings,
            finding=None,
            sentences=[s.index for s in content.sentences],
        )


def _location(ctx: _Ctx, sentences: list[Sentence]) -> None:
    where: dict[str, tuple[list[str], list[str], list[int]]] = {}
    for sent in sentences:
        for node, path, finding in _finding_nodes(sent):
            if finding.polarity is Polarity.ABSENT:
                continue
            nodes, paths, idx = where.setdefault(finding.phrase, ([], [], []))
            if node not in nodes:
                nodes.append(node)
                paths.append(path)
            idx.append(sent.index)
    conj = ctx.templates.answers["and"]
    for phrase, (nodes, paths, idx) in where.items():
        names = list(dict.fromkeys(readable_region(p) for p in paths))
        ctx.add(
            "location",
            "open",
            answer=join_names(names, conj),
            path=paths[0],
            node=nodes[0],
            finding=phrase,
            sentences=idx,
            mask=ctx.masks.ref(nodes[0]),
            answer_paths=paths,
        )


def _presence(ctx: _Ctx, sentences: list[Sentence]) -> None:
    stated: dict[tuple[str, str], tuple[str, set[Polarity], list[int]]] = {}
    for sent in sentences:
        for node, path, finding in _finding_nodes(sent):
            if finding.polarity not in (Polarity.PRESENT, Polarity.ABSENT):
                continue
            _, pols, idx = stated.setdefault((node, finding.phrase), (path, set(), []))
            pols.add(finding.polarity)
            idx.append(sent.index)
    answers = ctx.templates.answers
    for (node, phrase), (path, pols, idx) in stated.items():
        if len(pols) != 1:
            continue  # the report contradicts itself: no reliable answer
        answer = answers["yes"] if Polarity.PRESENT in pols else answers["no"]
        ctx.add_region("presence", path=path, node=node, answer=answer, finding=phrase, sentences=idx)


def _size(ctx: _Ctx, sentences: list[Sentence]) -> None:
    done: set[tuple[str, str, str]] = set()
    for sent in sentences:
        for node, path, finding in _finding_nodes(sent):
            measured = finding.measured  # only current measured sizes answer "what is the size of ..."
            if finding.polarity is Polarity.ABSENT or not measured:
                continue
            answer = size_text(measured)
            key = (node, finding.phrase, answer)
            if key in done:
                continue
            done.add(key)
            ctx.add_region(
                "size",
                path=path,
                node=node,
                answer=answer,
                finding=finding.phrase,
                sentences=[sent.index],
                size_mm=max(m.largest_mm for m in measured),
            )


def _disorder_sentences(analysis: ReportAnalysis) -> list[int]:
    impressions = analysis.section_sentences(Section.IMPRESSIONS)
    pool = impressions + analysis.section_sentences(Section.FINDINGS)
    idx = [
        s.index
        for s in pool
        if any(d.lower() in s.text.lower() or any(f.phrase == d for f in s.findings) for d in analysis.disorders)
    ]
    return idx or [s.index for s in impressions]


def _disorders(ctx: _Ctx, analysis: ReportAnalysis) -> None:
    ctx.add(
        "disorders",
        "open",
        answer=", ".join(analysis.disorders) or ctx.templates.answers["no_findings"],
        path=None,
        node=None,
        finding=None,
        sentences=_disorder_sentences(analysis),
        mask=None,
    )


def case_qa_pairs(
    rec: CaseRecord,
    masks: MaskResolver,
    *,
    split: str,
    seed: int = 0,
    hierarchy: Hierarchy | None = None,
    contents: dict[str, PathContent] | None = None,
) -> list[QAPair]:
    """Every QA pair of one case, in a fixed order (kinds as listed in the module doc, report order within).

    ``contents``: the case's :func:`~radgenome.dataset.tables.path_contents` when the caller has them.
    """
    h = hierarchy or load_hierarchy()
    analysis = rec.analysis
    ctx = _Ctx(
        rec=rec,
        split=split,
        seed=seed,
        masks=masks,
        h=h,
        prov=provenance_of(rec, seed),
        templates=load_templates(),
        out=[],
    )
    sentences = grounded_sentences(analysis)
    _abnormality(ctx, contents if contents is not None else path_contents(analysis, h))
    _location(ctx, sentences)
    _presence(ctx, sentences)
    _size(ctx, sentences)
    _disorders(ctx, analysis)
    return ctx.out

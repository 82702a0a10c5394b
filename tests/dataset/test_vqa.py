"""VQA pairs: seeded determinism and variety, presence only from stated findings, sizes in mm, paths."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from radgenome.anatomy import load_hierarchy
from radgenome.dataset.mask_refs import MaskResolver, read_case_sidecar
from radgenome.dataset.records import QA_KINDS, QAPair
from radgenome.dataset.vqa import agreement, case_qa_pairs, is_plural, load_templates, readable_region, stable_rng
from radgenome.model import CaseRecord, OutputLayout, Polarity, Report
from radgenome.text.engine import RulesBackend

Built = tuple[Path, list[CaseRecord]]


def _qa(out: Path, rec: CaseRecord, seed: int = 0) -> list[QAPair]:
    masks = MaskResolver(rec, read_case_sidecar(OutputLayout(out), rec))
    return case_qa_pairs(rec, masks, split=rec.split, seed=seed)


def _text_case(findings: str, impressions: str = "", volume: str = "case_x") -> CaseRecord:
    analysis = RulesBackend().analyze(Report(volume=volume, findings=findings, impressions=impressions))
    return CaseRecord(stem=volume, split="train", analysis=analysis)


def test_templates_cover_every_kind_with_several_phrasings() -> None:
    t = load_templates()
    for kind in QA_KINDS:
        assert len(t.templates[(kind, "open")]) >= 3, kind
    for kind in ("abnormality", "presence", "size"):
        assert len(t.templates[(kind, "given_region")]) >= 2, kind


def test_every_template_formats() -> None:
    for templates in load_templates().templates.values():
        for t in templates:
            for finding in ("nodule", "emphysematous changes"):
                text = t.text.format(region="left lung", finding=finding, **agreement(finding))
                assert ("{" not in text and text.endswith("?")) or text.endswith(".")


@pytest.mark.parametrize(
    ("phrase", "plural"),
    [
        ("emphysematous changes", True),
        ("enlarged lymph nodes", True),
        ("pulmonary fibrotic sequelae", True),
        ("nodule", False),
        ("atelectasis", False),
        ("bronchiectasis", False),
        ("pleural effusion", False),
        ("ground glass opacities", True),
        ("pneumothorax", False),
    ],
)
def test_plural_agreement(phrase: str, plural: bool) -> None:
    assert is_plural(phrase) is plural
    assert agreement(phrase)["is"] == ("are" if plural else "is")


def test_readable_region_names() -> None:
    assert readable_region("lung/lung/left lung/left lung upper lobe") == "left lung upper lobe"
    assert readable_region("trachea and bronchie") == "trachea and bronchi"
    assert readable_region("trachea and bronchie/bronchie") == "bronchi"


def test_stable_rng_is_not_salted() -> None:
    """Same draw in processes with different hash salts (Python's hash() would differ)."""
    code = "from radgenome.dataset.vqa import stable_rng; print(stable_rng(0, 'v', 'presence', 'lung', 'x').random())"
    draws = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": salt},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for salt in ("1", "2")
    }
    assert draws == {f"{stable_rng(0, 'v', 'presence', 'lung', 'x').random()}\n"}


def test_deterministic_per_seed_and_varied_across_seeds(built: Built) -> None:
    out, records = built
    for rec in records:
        assert _qa(out, rec, 3) == _qa(out, rec, 3)
    questions = {seed: [q.question for rec in records for q in _qa(out, rec, seed)] for seed in range(4)}
    assert len({tuple(v) for v in questions.values()}) == 4
    used = Counter(q.template_id for seed in range(4) for rec in records for q in _qa(out, rec, seed))
    assert len(used) >= 12


def test_every_kind_and_both_variants(built: Built) -> None:
    out, records = built
    pairs = [q for rec in records for q in _qa(out, rec)]
    assert {q.kind for q in pairs} == set(QA_KINDS)
    given = [q for q in pairs if q.variant == "given_region"]
    assert given and all(q.mask is not None and q.mask.status == "ok" and q.mask.labelmap for q in given)
    assert all(q.kind != "location" for q in given)


def test_region_paths_come_from_the_hierarchy(built: Built, hierarchy_paths: frozenset[str]) -> None:
    out, records = built
    h = load_hierarchy()
    for rec in records:
        for q in _qa(out, rec):
            if q.kind == "disorders":
                assert q.path is None and q.mask is None
                continue
            assert q.path in hierarchy_paths, q.path
            assert q.node == h.node_of_path(q.path)
            assert set(q.answer_paths) <= hierarchy_paths
            assert q.mask is not None and q.mask.node == q.node
            assert q.sentence_indices
            assert q.provenance.seed == 0 and q.provenance.text_backend == "rules"


def test_presence_only_from_stated_findings() -> None:
    rec = _text_case(
        "There is a 5 mm nodule in the right lung upper lobe. No pleural effusion. Heart size is normal. "
        "Possible atelectasis in the left lung lower lobe."
    )
    analysis = rec.analysis
    stated = {
        (f.phrase, f.polarity)
        for s in analysis.sentences
        for f in s.findings
        if f.polarity in (Polarity.PRESENT, Polarity.ABSENT)
    }
    presence = [q for q in _qa(Path("."), rec) if q.kind == "presence"]
    assert presence
    for q in presence:
        expected = Polarity.PRESENT if q.answer == "Yes" else Polarity.ABSENT
        assert (q.finding, expected) in stated
        assert q.mask is not None and q.mask.status == "not_segmented"
    answers = {(q.finding, q.answer) for q in presence}
    assert ("pleural effusion", "No") in answers
    assert any(a == "Yes" and "nodule" in str(f) for f, a in answers)
    # uncertain findings and findings the report never mentions get no presence question
    assert not any("atelectasis" in str(q.finding) for q in presence)
    assert not any(q.finding == "emphysema" for q in presence)


def test_contradicted_findings_get_no_presence_question() -> None:
    rec = _text_case("No pleural effusion. Pleural effusion is present.")
    assert not [q for q in _qa(Path("."), rec) if q.kind == "presence" and q.finding == "pleural effusion"]


def test_size_answers_in_mm() -> None:
    rec = _text_case("A 1.2 cm nodule in the right lung lower lobe. A 6x4 mm nodule in the left lung upper lobe.")
    sizes = [q for q in _qa(Path("."), rec) if q.kind == "size"]
    assert {q.answer for q in sizes} == {"1.2 cm (12 mm)", "6x4 mm"}
    assert {q.size_mm for q in sizes} == {12.0, 6.0}
    assert all(q.answer.endswith("mm") or q.answer.endswith("mm)") for q in sizes)
    assert {q.region for q in sizes} == {"right lung lower lobe", "left lung upper lobe"}


def test_abnormality_answers_match_the_csv_rows() -> None:
    from radgenome.dataset.tables import volume_rows

    rec = _text_case("Emphysema in both lungs. A 4 mm nodule in the right lung middle lobe. No pleural effusion.")
    csv_rows = {(path, abn) for _, path, abn in volume_rows(rec.analysis)["vqa_abnormality"]}
    pairs = [q for q in _qa(Path("."), rec) if q.kind == "abnormality"]
    assert pairs and {(q.path, q.answer) for q in pairs} <= csv_rows
    assert any(q.answer == "no findings" for q in pairs)


def test_location_lists_every_region_of_a_finding() -> None:
    rec = _text_case("A 5 mm nodule in the right lung upper lobe. A 3 mm nodule in the left lung lower lobe.")
    (loc,) = [q for q in _qa(Path("."), rec) if q.kind == "location" and q.finding == "nodule"]
    assert loc.answer == "right lung upper lobe and left lung lower lobe"
    assert len(loc.answer_paths) == 2 and loc.path == loc.answer_paths[0]


def test_disorders_case_level(built: Built) -> None:
    out, records = built
    for rec in records:
        (d,) = [q for q in _qa(out, rec) if q.kind == "disorders"]
        assert d.answer == (", ".join(rec.disorders) or "no findings")
        assert d.mask is None and d.path is None

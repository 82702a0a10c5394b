"""Only current measured sizes answer size questions and fill ``size_mm`` (issue 12, item 11)."""

from __future__ import annotations

from radgenome.dataset.mask_refs import MaskResolver
from radgenome.dataset.tables import volume_rows
from radgenome.dataset.vqa import case_qa_pairs
from radgenome.model import CaseRecord, Report, SizeKind, read_record, write_record
from radgenome.text.engine import RulesBackend

FINDINGS = (
    "Lymph nodes with a short axis not exceeding 1 cm are observed in the mediastinum. "
    "A nodular lesion measuring 15 mm (8.5 mm in diameter in the previous examination) is observed in the right "
    "lung upper lobe. Several nodules up to 4 mm in the left lung lower lobe."
)


def _record() -> CaseRecord:
    analysis = RulesBackend().analyze(Report(volume="valid_8_a_1", findings=FINDINGS))
    return CaseRecord(stem="valid_8_a_1", split="validation", analysis=analysis)


def test_bounds_and_earlier_sizes_stay_on_the_finding_with_their_kind(tmp_path) -> None:
    rec = _record()
    nodes, lesion, _small = rec.analysis.sentences
    assert [(m.text, m.kind) for f in nodes.findings for m in f.measurements] == [("1 cm", SizeKind.UPPER_BOUND)]
    sizes = {m.text: m.kind for f in lesion.findings for m in f.measurements}
    assert sizes == {"15 mm": SizeKind.MEASURED, "8.5 mm": SizeKind.PRIOR}
    assert [m.text for f in lesion.findings for m in f.measured] == ["15 mm"]
    path = tmp_path / "r.json"
    write_record(rec, path)
    back = read_record(path)
    assert back.analysis.sentences[1].findings == lesion.findings  # the kind survives the record


def test_size_rows_and_questions_use_only_measured_sizes() -> None:
    rec = _record()
    rows = volume_rows(rec.analysis)["vqa_size"]
    # "up to 4 mm" is the largest nodule found (a measured size); the bound and the earlier size answer nothing
    assert {(r[2], r[3], r[4]) for r in rows} == {("nodular lesion", "15 mm", "15"), ("nodules", "4 mm", "4")}
    qa = [q for q in case_qa_pairs(rec, MaskResolver(rec, None), split="validation") if q.kind == "size"]
    want = {("nodular lesion", "15 mm", 15.0), ("nodules", "4 mm", 4.0)}
    assert {(q.finding, q.answer, q.size_mm) for q in qa} == want

"""The dataset writers place a multi-parent node where its sentence's qualifier says (issue 12, item 10)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from radgenome.dataset.mask_refs import MaskResolver
from radgenome.dataset.sentences_parquet import write_sentences_parquet
from radgenome.dataset.tables import volume_rows
from radgenome.dataset.vqa import case_qa_pairs
from radgenome.model import CaseRecord, Report, Sentence
from radgenome.text.engine import RulesBackend

FINDINGS = (
    "Calcific atherosclerotic changes were observed in the thoracic aorta and coronary artery walls. "
    "There is a 32 mm aneurysm in the abdominal aorta. It is fusiform."
)


def _record() -> CaseRecord:
    analysis = RulesBackend().analyze(Report(volume="valid_9_a_1", findings=FINDINGS))
    return CaseRecord(stem="valid_9_a_1", split="validation", analysis=analysis)


def test_the_engine_records_the_chosen_paths_and_continuations_keep_them() -> None:
    thoracic, abdominal, anaphor = _record().analysis.sentences
    assert "aorta" in thoracic.nodes and thoracic.node_paths == ("mediastinum/aorta", "heart/heart")
    assert abdominal.node_paths == ("abdomen/abdomen/aorta",)
    assert anaphor.nodes == ("aorta",) and anaphor.node_paths == ("abdomen/abdomen/aorta",)
    assert abdominal.findings[0].measurements[0].largest_mm == 32


def test_region_report_and_vqa_rows_follow_the_choice() -> None:
    rec = _record()
    rows = volume_rows(rec.analysis)
    by_path = {path: text for _, path, text in rows["region_report"] if path}
    assert "thoracic aorta" in by_path["mediastinum/aorta"]
    assert "thoracic aorta" not in by_path["abdomen/abdomen/aorta"]
    assert "abdominal aorta" in by_path["abdomen/abdomen/aorta"]
    assert "abdominal aorta" not in by_path["mediastinum/aorta"]
    sizes = [r for r in rows["vqa_size"]]
    assert sizes and all(r[1].startswith("abdomen") for r in sizes)
    qa = case_qa_pairs(rec, MaskResolver(rec, None), split="validation")
    calcific = [q for q in qa if q.finding and q.finding.startswith("calcific") and q.node == "aorta"]
    assert calcific and all(q.path == "mediastinum/aorta" for q in calcific)


def test_parquet_node_paths_are_the_recorded_choice(tmp_path: Path) -> None:
    rec = _record()
    out = tmp_path / "sentences.parquet"
    write_sentences_parquet([rec.analysis], out)
    rows = pq.read_table(out, columns=["text", "paths"]).to_pylist()
    first = rows[0]
    assert "mediastinum/aorta" in first["paths"] and "abdomen/abdomen/aorta" not in first["paths"]


def test_a_sentence_whose_nodes_changed_is_placed_from_its_text() -> None:
    s = Sentence(volume="v", section=_record().analysis.sentences[0].section, index=0,
                 text="The abdominal aorta is ectatic.", start=0, end=31, nodes=("aorta",),
                 node_paths=("heart/heart",))  # recorded for another node (e.g. before a reviewer's correction)
    assert s.chosen_paths() == ("abdomen/abdomen/aorta",)
    assert Sentence(volume="v", section=s.section, index=0, text="Aorta is normal.", start=0, end=16,
                    nodes=("aorta",)).chosen_paths() == ("mediastinum/aorta",)

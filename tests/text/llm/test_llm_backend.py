"""LLMBackend.refine / refine_many against the scripted server, on hand-built rules analyses."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from radgenome.model import Polarity, ReportAnalysis, Section
from radgenome.testing import Reply, ScriptedServer
from radgenome.text.disorders import case_disorders
from radgenome.text.llm.backend import LLMBackend
from radgenome.text.llm.client import PREFLIGHT_PROMPT
from radgenome.text.llm.settings import LLMSettings

pytest.importorskip("httpx")

Make = Callable[..., LLMSettings]

NODULE = "There is a 6x4 mm nodule in the lingula, stable compared to the previous examination."
EFFUSION = "No pleural effusion was observed."
HEART = "Heart contour and size are normal."
VAGUE = "Minimal changes are seen posteriorly."


def _report(rb: SimpleNamespace, volume: str = "train_1_a_1") -> ReportAnalysis:
    return rb.analysis(
        volume,
        [
            rb.sentence(volume, 0, NODULE, ("left lung",), 0.4, [rb.present("nodule")]),
            rb.sentence(volume, 1, EFFUSION, ("pleura",), 0.95, [rb.absent("pleural effusion")]),
            rb.sentence(volume, 2, HEART, ("heart",), 0.9),
            dataclasses.replace(rb.sentence(volume, 3, VAGUE, ("others",), 0.9), flags=("grounded_by_others",)),
            rb.sentence(volume, 4, "Atelectasis.", ("lung",), 0.3, [rb.present("atelectasis")], Section.IMPRESSIONS),
            rb.sentence(volume, 5, "Chest pain.", (), 1.0, section=Section.CLINICAL),
        ],
    )


def _script(server: ScriptedServer) -> None:
    server.script.update(
        {
            NODULE: [
                Reply.answer(
                    ["left lung upper lobe", "left lung"],
                    [
                        {
                            "phrase": "Nodule",
                            "polarity": "present",
                            "size_text": "6x4 mm",
                            "attributes": ["stable", "compared to the previous examination"],
                        }
                    ],
                )
            ],
            EFFUSION: [Reply.answer(["pleura"], [{"phrase": "pleural effusion", "polarity": "absent"}])],
            HEART: [Reply.answer(["heart"])],
            VAGUE: [Reply.answer(["lung", "others"], [{"phrase": "minimal changes", "polarity": "uncertain"}])],
            "Atelectasis.": [Reply.answer(["lung"], [{"phrase": "atelectasis", "polarity": "present"}])],
        }
    )


def test_llm_mode_refines_every_grounded_sentence(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    _script(server)
    backend = LLMBackend(make_settings(mode="llm"))
    original = _report(rb)
    (out,) = backend.refine_many([original])

    assert server.count() == 5  # clinical sentence not sent
    assert out.backend == "llm" and out.version == backend.version
    assert [s.text for s in out.sentences] == [s.text for s in original.sentences]  # splitting unchanged
    assert [(s.start, s.end, s.index, s.section) for s in out.sentences] == [
        (s.start, s.end, s.index, s.section) for s in original.sentences
    ]
    nodule, effusion, heart, vague, imp, clinical = out.sentences
    assert nodule.backend == "llm" and nodule.nodes == ("left lung upper lobe",)  # ancestor dropped
    assert nodule.grounding_confidence == 0.5  # differs from the rules' grounding
    (f,) = nodule.findings
    assert f.phrase == "nodule" and f.polarity is Polarity.PRESENT
    assert f.attributes == ("stable", "compared to the previous examination")
    assert [m.text for m in f.measurements] == ["6x4 mm"] and f.measurements[0].largest_mm == 6.0
    assert effusion.findings[0].polarity is Polarity.ABSENT and effusion.grounding_confidence == 1.0
    assert heart.findings == [] and heart.nodes == ("heart",)
    assert vague.nodes == ("lung",)  # "others" dropped next to a real node
    assert imp.backend == "llm"
    assert clinical.backend == "rules" and clinical is original.sentences[5]
    assert out.labels == original.labels
    assert out.disorders == case_disorders(out.sentences)
    assert effusion.findings[0].nodes == ("pleura",)
    assert vague.flags == ()  # the rules' grounding flag is gone with the rules' grounding
    # the input is not mutated
    assert original.sentences[0].nodes == ("left lung",) and original.backend == "rules"
    assert backend.stats.answered == 5 and backend.stats.fallbacks == {}


def test_hybrid_sends_only_low_confidence_or_others(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    _script(server)
    backend = LLMBackend(make_settings(mode="hybrid", confidence_threshold=0.6))
    original = _report(rb)
    (out,) = backend.refine_many([original])
    assert sorted(r.sentence for r in server.requests) == sorted([NODULE, VAGUE, "Atelectasis."])
    assert out.backend == "hybrid"
    by_text = {s.text: s for s in out.sentences}
    assert by_text[EFFUSION] is original.sentences[1] and by_text[EFFUSION].backend == "rules"
    assert by_text[HEART].backend == "rules"
    assert by_text[NODULE].backend == "llm" and by_text[VAGUE].backend == "llm"
    assert backend.stats.kept_rules == 2 and backend.stats.sentences_sent == 3
    assert backend.name == "hybrid"


def test_fallbacks_are_flagged(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    server.script.update(
        {
            "bad json": [Reply.raw('{"nodes": ["heart"], "findings": [')],
            "bad node": [Reply.answer(["left little toe"])],
            "always 500": [Reply.error(500)],
            "too slow": [Reply.answer(["heart"], delay_s=60.0)],
            "fine": [Reply.answer(["trachea"])],
        }
    )
    v = "valid_9_a_1"
    a = rb.analysis(
        v,
        [
            rb.sentence(v, i, t, ("lung",), 0.1, [rb.present("x")])
            for i, t in enumerate(["bad json", "bad node", "always 500", "too slow", "fine"])
        ],
    )
    backend = LLMBackend(make_settings(timeout_s=1.0, max_retries=1))
    (out,) = backend.refine_many([a])
    assert server.count("too slow") == 2 and server.count("always 500") == 2  # one retry each, then given up
    flags = {s.text: s.flags for s in out.sentences}
    assert flags == {
        "bad json": ("llm_invalid_json",),
        "bad node": ("llm_schema_violation",),
        "always 500": ("llm_failed",),
        "too slow": ("llm_failed",),
        "fine": (),
    }
    for s, orig in zip(out.sentences[:4], a.sentences[:4], strict=True):
        assert s.backend == "rules" and s.nodes == orig.nodes and s.findings == orig.findings
    assert out.sentences[4].backend == "llm" and out.sentences[4].nodes == ("trachea",)
    assert backend.stats.fallbacks == {"llm_invalid_json": 1, "llm_schema_violation": 1, "llm_failed": 2}
    assert backend.stats.failure_kinds == {"HTTP 500": 1, "timeout": 1}
    assert server.count("always 500") == 2 and server.count("too slow") == 2  # retried once each
    assert server.count("bad json") == 1  # a bad answer is not retried
    assert backend.stats.retries == 2
    assert "4 of 5 LLM questions fell back to the rules" in caplog.text
    assert "'left little toe' is not an allowed value" in caplog.text and len(caplog.text) < 1000


def test_second_run_is_served_from_the_cache(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    _script(server)
    settings = make_settings(mode="llm")
    first = LLMBackend(settings).refine_many([_report(rb)])
    n = server.count()
    assert n == 5
    again = LLMBackend(settings)
    second = again.refine_many([_report(rb)])
    assert server.count() == n  # no new requests
    assert again.stats.requests == 0 and again.stats.cache_hits == 5 and again.stats.cache_hit_rate == 1.0
    assert [(s.nodes, s.findings, s.backend) for s in second[0].sentences] == [
        (s.nodes, s.findings, s.backend) for s in first[0].sentences
    ]
    # another model or no cache at all asks again
    LLMBackend(make_settings(mode="llm", model="other-model")).refine_many([_report(rb)])
    assert server.count() == 2 * n


def test_failures_are_not_cached(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    server.script["flaky"] = [Reply.raw("not json"), Reply.answer(["heart"])]
    a = rb.analysis("v", [rb.sentence("v", 0, "flaky", ("others",), 0.1)])
    settings = make_settings(mode="hybrid")
    (first,) = LLMBackend(settings).refine_many([a])
    assert first.sentences[0].flags == ("llm_invalid_json",)
    (second,) = LLMBackend(settings).refine_many([a])
    assert second.sentences[0].nodes == ("heart",) and second.sentences[0].flags == ()
    assert server.count("flaky") == 2


def test_identical_sentences_across_reports_are_asked_once(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    _script(server)
    reports = [_report(rb, f"train_{i}_a_1") for i in range(20)]
    progress: list[int] = []
    backend = LLMBackend(make_settings(mode="llm", cache_dir=None, concurrency=8))
    out = backend.refine_many(reports, progress=progress.append)
    assert server.count() == 5
    assert len(out) == 20 and all(o.sentences[0].nodes == ("left lung upper lobe",) for o in out)
    assert [o.volume for o in out] == [r.volume for r in reports]
    assert progress == [20]  # every report needs all five texts: they finish together
    assert backend.stats.sentences_sent == 100 and backend.stats.unique_texts == 5


def test_refine_single_and_provenance(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    _script(server)
    backend = LLMBackend(make_settings(mode="llm"))
    out = backend.refine(_report(rb))
    assert out.sentences[1].findings[0].phrase == "pleural effusion"
    prov = backend.provenance()
    assert prov["model"] == "test-model" and prov["backend"] == "llm"
    assert prov["prompt_version"] == backend.prompt_version and prov["prompt_version"].startswith("v1-")
    assert prov["base_url"] == server.url


def test_size_matching_by_value_and_unmatched(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    text = "A 1.5 x 2 cm mass, a 4 mm nodule and a cyst."
    server.script[text] = [
        Reply.answer(
            ["lung"],
            [
                {"phrase": "mass", "polarity": "present", "size_text": "15 x 20 mm"},
                {"phrase": "nodule", "polarity": "present", "size_text": "4  mm"},
                {"phrase": "cyst", "polarity": "present", "size_text": "9 mm"},
            ],
        )
    ]
    a = rb.analysis("v", [rb.sentence("v", 0, text, ("others",), 0.0)])
    (out,) = LLMBackend(make_settings()).refine_many([a])
    mass, nodule, cyst = out.sentences[0].findings
    assert [m.text for m in mass.measurements] == ["1.5 x 2 cm"]
    assert [m.text for m in nodule.measurements] == ["4 mm"]
    assert cyst.measurements == ()
    assert out.sentences[0].flags == ("llm_size_unmatched",)


def test_nothing_to_send_makes_no_client(make_settings: Make, rb: SimpleNamespace) -> None:
    a = rb.analysis("v", [rb.sentence("v", 0, "Heart normal.", ("heart",), 0.99)])
    backend = LLMBackend(make_settings(mode="hybrid", base_url="http://127.0.0.1:9/v1"))
    (out,) = backend.refine_many([a])
    assert out.sentences == a.sentences and backend.stats.requests == 0
    assert backend.refine_many([]) == []


def test_progress_counts_finished_reports(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    reports = [
        rb.analysis(f"v{i}", [rb.sentence(f"v{i}", 0, f"Finding number {i}.", ("others",), 0.0)]) for i in range(6)
    ]
    reports.append(rb.analysis("confident", [rb.sentence("confident", 0, "Heart normal.", ("heart",), 1.0)]))
    progress: list[int] = []
    LLMBackend(make_settings(mode="hybrid", concurrency=2)).refine_many(reports, progress=progress.append)
    assert progress[0] == 1  # the report with nothing to ask is done at once
    assert progress == sorted(progress) and progress[-1] == 7 and len(progress) == 7


def test_disorders_follow_the_refined_findings(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    server.script["Atelectasis?"] = [Reply.answer(["lung"], [{"phrase": "atelectasis", "polarity": "absent"}])]
    server.script["Small nodule."] = [Reply.answer(["lung"], [{"phrase": "nodule", "polarity": "present"}])]
    a = rb.analysis(
        "v",
        [
            rb.sentence("v", 0, "Small nodule.", ("lung",), 0.9, [rb.present("nodule")]),
            rb.sentence("v", 1, "Atelectasis?", ("lung",), 0.2, [rb.present("atelectasis")], Section.IMPRESSIONS),
        ],
    )
    (out,) = LLMBackend(make_settings(mode="hybrid")).refine_many([a])
    assert a.disorders == ["atelectasis"]
    assert out.disorders == case_disorders(out.sentences)
    assert "atelectasis" not in out.disorders  # the model read the impression as a negation


def test_context_grounded_sentences_carry_the_previous_sentence(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    server.script["It is unchanged."] = [Reply.answer(["left kidney"], [{"phrase": "cyst", "polarity": "present"}])]
    first = "A cyst is seen in the left kidney."
    reports = [
        rb.analysis(
            v,
            [
                rb.sentence(v, 0, first if v == "a" else "A nodule in the right lung.", ("left kidney",), 1.0),
                dataclasses.replace(
                    rb.sentence(v, 1, "It is unchanged.", ("left kidney",), 0.6), flags=("grounded_by_context",)
                ),
            ],
        )
        for v in ("a", "b")
    ]
    backend = LLMBackend(make_settings(mode="hybrid"))
    assert backend.query(reports[0], 1) == f"Previous sentence: {first}\nSentence: It is unchanged."
    assert backend.query(reports[0], 0) == f"Sentence: {first}"
    out = backend.refine_many(reports)
    # same sentence, different context: two questions
    users = sorted(r.body["messages"][-1]["content"] for r in server.requests)
    assert len(users) == 2 and all(u.endswith("Sentence: It is unchanged.") for u in users)
    assert out[0].sentences[1].nodes == ("left kidney",) and out[0].sentences[1].flags == ()


# ------------------------------------------------------------------------------ failing loudly and fast
def _one_sentence_reports(rb: SimpleNamespace, texts: list[str]) -> list[ReportAnalysis]:
    return [rb.analysis(f"v{i}", [rb.sentence(f"v{i}", 0, t, ("others",), 0.0)]) for i, t in enumerate(texts)]


def test_unsupported_phrase_falls_back(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    text = "Bronchial wall thickening in both lower lobes."
    server.script[text] = [
        Reply.answer(["lung"], [{"phrase": "bronchial wall thickening", "polarity": "present"},
                                {"phrase": "bronchiectasis", "polarity": "present"}])
    ]
    a = rb.analysis("v", [rb.sentence("v", 0, text, ("lung",), 0.2, [rb.present("bronchial wall thickening")])])
    backend = LLMBackend(make_settings())
    (out,) = backend.refine_many([a])
    s = out.sentences[0]
    assert s.flags == ("llm_unsupported_phrase",) and s.backend == "rules"
    assert [f.phrase for f in s.findings] == ["bronchial wall thickening"]  # the rules' findings, nothing invented
    assert backend.stats.fallbacks == {"llm_unsupported_phrase": 1} and backend.stats.answered == 0
    LLMBackend(make_settings()).refine_many([a])
    assert server.count(text) == 2  # an unusable answer is not cached


def test_region_names_the_rules_use_are_answers(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    server.script["Mediastinal vascular structures are normal."] = [Reply.answer(["mediastinum"])]
    server.script["The aorta and mediastinum are normal."] = [Reply.answer(["aorta", "mediastinum"])]
    server.script["Trachea and main bronchi are open."] = [Reply.answer(["trachea and bronchie", "trachea"])]
    texts = list(server.script)
    (out,) = LLMBackend(make_settings()).refine_many(
        [rb.analysis("v", [rb.sentence("v", i, t, ("others",), 0.0) for i, t in enumerate(texts)])]
    )
    assert [s.nodes for s in out.sentences] == [("mediastinum",), ("aorta",), ("trachea",)]
    assert all(s.backend == "llm" and not s.flags for s in out.sentences)


def test_reasoning_and_chatty_answers_are_used_truncated_ones_named(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    answer = '{"nodes": ["heart"], "findings": [{"phrase": "pericardial effusion", "polarity": "absent", ' \
             '"size_text": null, "attributes": []}]}'
    server.script["No pericardial effusion."] = [Reply.raw(f"<think>\nPericardium is the heart.\n</think>\n{answer}")]
    server.script["Pericardial effusion is absent."] = [Reply.raw(f"Here you go:\n```json\n{answer}\n```")]
    server.script["No effusion in the pericardium."] = [Reply.raw("<think>\nThe pericardium...", "length")]
    (out,) = LLMBackend(make_settings()).refine_many(
        [rb.analysis("v", [rb.sentence("v", i, t, ("others",), 0.0) for i, t in enumerate(server.script)])]
    )
    think, fenced, cut = out.sentences
    assert think.backend == fenced.backend == "llm" and think.nodes == fenced.nodes == ("heart",)
    assert cut.backend == "rules" and cut.flags == ("llm_truncated",)


def test_unusable_answers_in_a_row_abort_the_pass(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    server.default = lambda _s: Reply.raw('{"grounding": "lung"}')  # a model that ignores the schema
    backend = LLMBackend(make_settings(concurrency=1, max_consecutive_bad_answers=4))
    out = backend.refine_many(_one_sentence_reports(rb, [f"Finding {i}." for i in range(30)]))
    assert server.count() == 4  # four unusable answers, then nothing more was asked
    flags = [o.sentences[0].flags for o in out]
    assert flags[:4] == [("llm_schema_violation",)] * 4 and flags[4:] == [("llm_failed",)] * 26
    assert backend.stats.failure_kinds == {"circuit open": 26}
    verdict = backend.verdict()
    assert not verdict.ok and verdict.aborted
    assert "4 unusable answers in a row; the last: llm_schema_violation" in verdict.message
    assert "The model answered 0 of 30 sentences sent to it; fell back to the rules: " in verdict.message


def test_server_failures_abort_the_pass_and_it_stays_aborted(
    server: ScriptedServer, make_settings: Make, rb: SimpleNamespace
) -> None:
    server.default = lambda _s: Reply.error(503, message="model is loading")
    server.script[PREFLIGHT_PROMPT] = [Reply.answer(["others"])]  # it passed its preflight, then went down
    backend = LLMBackend(make_settings(concurrency=2, max_retries=3, max_consecutive_errors=4))
    first = backend.refine_many(_one_sentence_reports(rb, [f"Finding {i}." for i in range(40)]))
    sent = server.count()
    assert 4 <= sent <= 5  # the breaker opened at the fourth failure in a row (one more may have been in flight)
    assert all(o.sentences[0].flags == ("llm_failed",) for o in first)
    second = backend.refine_many(_one_sentence_reports(rb, [f"Other {i}." for i in range(10)]))
    assert server.count() == sent  # a later batch asks nothing
    assert all(o.sentences[0].flags == ("llm_failed",) for o in second)
    v = backend.verdict()
    assert v.aborted and "HTTP 503 from" in v.message and "model is loading" in v.message
    assert "0 of 50 sentences" in v.message and "circuit open" in v.message


def test_verdict_follows_min_success(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace) -> None:
    server.script["Finding 0."] = [Reply.raw("no idea")]
    server.script["Finding 1."] = [Reply.raw("no idea")]
    texts = [f"Finding {i}." for i in range(20)]
    backend = LLMBackend(make_settings(min_success=0.95))
    backend.refine_many(_one_sentence_reports(rb, texts[1:]))  # 18 of 19 answered: 94.7 %
    v = backend.verdict()
    assert not v.ok and not v.aborted
    assert v.message.startswith("the model answered 18 of 19 sentences sent to it (94.7%, less than the required 95%)")
    assert "llm_invalid_json 1" in v.message
    lenient = LLMBackend(make_settings(min_success=0.9))
    lenient.refine_many(_one_sentence_reports(rb, texts))  # 18 of 20 = 90 %
    assert lenient.verdict().ok
    assert LLMBackend(make_settings()).verdict().ok  # nothing sent: nothing fell short


def test_preflight_failure_raises_before_any_question(make_settings: Make, rb: SimpleNamespace) -> None:
    from radgenome.text.llm.client import LLMServerError

    with ScriptedServer(models=["served-model"]) as srv:
        backend = LLMBackend(make_settings(base_url=srv.url, model="typo-model"))
        with pytest.raises(LLMServerError, match="model 'typo-model' is unknown to the server"):
            backend.refine_many(_one_sentence_reports(rb, ["A nodule."]))
        assert srv.count() == 0 and srv.model_list_requests == 1


def test_preflight_runs_once_and_not_for_cached_work(make_settings: Make, rb: SimpleNamespace) -> None:
    with ScriptedServer(default=lambda _s: Reply.answer(["lung"])) as srv:
        settings = make_settings(base_url=srv.url)
        backend = LLMBackend(settings)
        backend.refine_many(_one_sentence_reports(rb, ["A."]))
        backend.refine_many(_one_sentence_reports(rb, ["B."]))
        assert srv.model_list_requests == 1 and len(srv.preflight_requests) == 1 and srv.count() == 2
        LLMBackend(settings).refine_many(_one_sentence_reports(rb, ["A.", "B."]))  # all cached: no server needed
        assert srv.model_list_requests == 1 and srv.count() == 2


def test_same_model_name_on_another_server_is_asked_again(make_settings: Make, rb: SimpleNamespace) -> None:
    reports = _one_sentence_reports(rb, ["A nodule."])
    with ScriptedServer(default=lambda _s: Reply.answer(["lung"])) as a, \
         ScriptedServer(default=lambda _s: Reply.answer(["heart"])) as b:
        (first,) = LLMBackend(make_settings(base_url=a.url)).refine_many(reports)
        (second,) = LLMBackend(make_settings(base_url=b.url)).refine_many(reports)
        (third,) = LLMBackend(make_settings(base_url=b.url, temperature=0.3)).refine_many(reports)
        assert a.count() == 1 and b.count() == 2
    assert first.sentences[0].nodes == ("lung",) and second.sentences[0].nodes == ("heart",)
    assert third.sentences[0].backend == "llm"


def test_per_sentence_log(server: ScriptedServer, make_settings: Make, rb: SimpleNamespace, tmp_path: Path) -> None:
    server.script["Fine."] = [Reply.answer(["heart"])]
    server.script["Broken."] = [Reply.error(500, message="boom")]
    server.script["Chatty."] = [Reply.raw("I think it is the lung.")]
    log = tmp_path / "llm_log.jsonl"
    backend = LLMBackend(make_settings(max_retries=0))
    backend.set_log(log)
    backend.refine_many(_one_sentence_reports(rb, ["Fine.", "Broken.", "Chatty."]))
    backend.close()
    entries = {e["question"]: e for e in map(json.loads, log.read_text("utf-8").splitlines())}
    assert entries["Sentence: Fine."]["result"] == "answered" and entries["Sentence: Fine."]["attempts"] == 1
    broken = entries["Sentence: Broken."]
    assert broken["result"] == "llm_failed" and broken["kind"] == "HTTP 500"
    assert broken["detail"] == f"HTTP 500 from {server.url}/chat/completions: boom"
    chatty = entries["Sentence: Chatty."]
    assert chatty["result"] == "llm_invalid_json" and chatty["answer"] == "I think it is the lung."
    again = LLMBackend(make_settings())
    again.set_log(log, append=True)
    again.refine_many(_one_sentence_reports(rb, ["Fine."]))
    again.close()
    last = json.loads(log.read_text("utf-8").splitlines()[-1])
    assert last == {"question": "Sentence: Fine.", "result": "answered", "cached": True}
    assert "per-sentence log: " not in again.verdict().message  # ok: nothing to say

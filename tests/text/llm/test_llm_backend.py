"""LLMBackend.refine / refine_many against the scripted server, on hand-built rules analyses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from radgenome.model import Polarity, ReportAnalysis, Section
from radgenome.testing import Reply, ScriptedServer
from radgenome.text.disorders import case_disorders
from radgenome.text.llm.backend import LLMBackend
from radgenome.text.llm.settings import LLMSettings

pytest.importorskip("openai")

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
    text = "A 1.5 x 2 cm mass and a 4 mm nodule."
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

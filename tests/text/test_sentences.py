from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from radgenome.text.sentences import split_sentences


def texts(s: str) -> list[str]:
    return [x.text for x in split_sentences(s)]


def test_decimals_dates_ordinals_and_abbreviations_stay_together() -> None:
    assert texts("Nodule 4.6 mm in size. Lesion 1.5 x 2 cm was seen.") == [
        "Nodule 4.6 mm in size.",
        "Lesion 1.5 x 2 cm was seen.",
    ]
    assert texts("Fracture in the left 6. rib. Dated 4.4.2020. Approx. 5 mm.") == [
        "Fracture in the left 6. rib.",
        "Dated 4.4.2020.",
        "Approx. 5 mm.",
    ]


def test_window_clause_missing_space_and_double_spaces() -> None:
    s = "When examined in the lung parenchyma window; Linear atelectasis.No pathological LAP.  Heart normal."
    assert texts(s) == [
        "When examined in the lung parenchyma window; Linear atelectasis.",
        "No pathological LAP.",
        "Heart normal.",
    ]
    assert texts("Nothing was detected.A nodule is seen.") == ["Nothing was detected.", "A nodule is seen."]


def test_numbered_impression_list_and_bullets() -> None:
    spans = split_sentences(" 1. Emphysema. 2. Atelectasis in the left 6. rib area.  3. Covid-19. Recommended.")
    assert [(s.marker, s.text) for s in spans] == [
        ("1.", "Emphysema."),
        ("2.", "Atelectasis in the left 6. rib area."),
        ("3.", "Covid-19."),
        ("", "Recommended."),
    ]
    assert [(s.marker, s.text) for s in split_sentences("- first\n- second")] == [("-", "first"), ("-", "second")]


def test_question_mark_inside_brackets() -> None:
    assert texts("Collapsed vein (chronic occlusion?). Trachea open.") == [
        "Collapsed vein (chronic occlusion?).",
        "Trachea open.",
    ]


def test_empty_input() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n ") == []


_WORDS = st.sampled_from(
    ["nodule", "4.6", "mm", "1.5", "x", "2", "cm", "No", "The", "left", "6.", "rib", "window;", "A", "e.g.",
     "approx.", "(?)", "Covid-19.", "1.", "2)", "-", "lung.", "Heart.", "normal,", "T9"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_WORDS, st.sampled_from([" ", "  ", "", "\n", ". "])), max_size=40))
def test_sentences_cover_every_non_space_character(parts: list[tuple[str, str]]) -> None:
    text = "".join(w + sep for w, sep in parts)
    spans = split_sentences(text)
    covered = [False] * len(text)
    last_end = 0
    for sp in spans:
        assert text[sp.start : sp.end] == sp.text
        assert sp.start >= last_end  # in order, no overlap
        last_end = sp.end
        for i in range(sp.start, sp.end):
            covered[i] = True
        if sp.marker:
            mstart = text.rfind(sp.marker, 0, sp.start)
            assert mstart >= 0
            for i in range(mstart, mstart + len(sp.marker)):
                covered[i] = True
    assert all(covered[i] for i, c in enumerate(text) if not c.isspace())
